"""Push: subscriptions, enterprise profiles and eligibility, notices with their review, and the
outbox and delivery engine that send them (and the staff answers to unanswered questions)."""
