"""What staff do, in one place for the JSON API and the ``gongkai inbox`` / ``stats`` commands.

List the inbox in groups; answer a group (optionally saving the answer as a Q&A pair in the
policy library) and deliver it; deliver again what was not delivered; set questions aside; the
statistics. Checks that can fail are made before anything is written, and each refusal is a
``DeskError`` with a sentence for staff (Chinese) and an HTTP status for the API.

Answering is safe to repeat: questions already answered are not answered again; their earlier
answer's undelivered rows are delivered (this is how a crashed or interrupted answer is
finished: run the same command again), and nothing already sent is sent twice
(``push.answers``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.annual import Overview, overview
from bot.config import Settings
from bot.inbox import Answer, Claim, Claimed, Dismissed, Group, Inbox
from bot.stats import Report, StatsRangeError, report
from bot.wechat.replies import TEXT_LIMIT_BYTES
from policy_index.model import Library, QAPair
from policy_index.staff import StaffQAError, policy_exists, save_staff_qa, staff_qa
from push.answers import Courier, Sender

logger = logging.getLogger(__name__)

MAX_QUESTIONS_PER_ANSWER = 500
LONGEST_QUOTE = "问" * 40  # a question quoted in the message is shortened to fewer characters


class DeskError(Exception):
    """A staff request that cannot be carried out; nothing was changed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    question_ids: tuple[int, ...]
    text: str
    save_qa: bool = False
    policy_id: str | None = None
    question: str | None = None  # the wording to save and record (default: the group's)
    author: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    claim: Claim
    answer: Answer | None  # the new answer (None if no question was still open)
    earlier: tuple[Answer, ...]  # earlier answers of questions already answered
    qa: QAPair | None  # the Q&A pair saved


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StaffDesk:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        sender: Sender,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.inbox = Inbox(engine, similarity=settings.staff.similarity)
        self.courier = Courier(engine, sender, self.message, clock=clock)
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def message(self, question: str, asked_at: datetime, answer: str) -> str:
        """The customer-service message an asker receives."""
        from handlers import texts
        from policy_index.index import LOCAL_TZ

        return texts.staff_answer(self.settings, question, asked_at.astimezone(LOCAL_TZ), answer)

    async def groups(self, since: datetime | None = None) -> list[Group]:
        return await self.inbox.groups(since)

    async def answer(self, request: AnswerRequest, *, then: Claimed | None = None) -> AnswerOutcome:
        """``then`` writes in the claim's transaction (the console's audit row): the answer is
        recorded and the questions leave the inbox together with it, before any delivery."""
        text = request.text.strip()
        ids = tuple(dict.fromkeys(request.question_ids))
        await self._check(request, text, ids)
        claim = await self.inbox.claim(
            ids, text, self.now(), question=request.question, author=request.author, then=then
        )
        qa = None
        if claim.answer_id is not None:
            logger.info(
                "staff answer %d recorded for %d question(s)",
                claim.answer_id,
                len(claim.claimed),
                extra={"action": "staff_answer", "answer_id": claim.answer_id},
            )
            if request.save_qa:
                qa = await save_staff_qa(
                    self.engine,
                    claim.question,
                    text,
                    policy_id=request.policy_id,
                    similar=claim.texts,
                )
                await self.inbox.set_saved_qa(claim.answer_id, qa.id, request.policy_id)
            await self.courier.deliver(claim.answer_id)
        earlier = []
        for answer_id in sorted(set(claim.earlier.values())):
            await self.courier.deliver(answer_id)
            if (found := await self.inbox.answer(answer_id)) is not None:
                earlier.append(found)
        answer = await self.inbox.answer(claim.answer_id) if claim.answer_id else None
        return AnswerOutcome(claim, answer, tuple(earlier), qa)

    async def _check(self, request: AnswerRequest, text: str, ids: Sequence[int]) -> None:
        if not ids:
            raise DeskError("请指定要答复的问题编号。")
        if len(ids) > MAX_QUESTIONS_PER_ANSWER:
            raise DeskError(f"一次最多答复 {MAX_QUESTIONS_PER_ANSWER} 个问题。")
        if not text:
            raise DeskError("答复内容不能为空。")
        longest = self.message(LONGEST_QUOTE, self.now(), text)
        if len(longest.encode()) > TEXT_LIMIT_BYTES:
            spare = TEXT_LIMIT_BYTES - (len(longest.encode()) - len(text.encode()))
            raise DeskError(
                f"答复太长：微信客服消息最多 {TEXT_LIMIT_BYTES} 字节，答复正文最多约 "
                f"{max(spare, 0) // 3} 个汉字（现在 {len(text)} 个字）。请精简，或附上链接。"
            )
        if request.policy_id is not None and not request.save_qa:
            raise DeskError("只有保存为问答（save_qa）时才能指定所依据的政策。")
        if request.save_qa:
            try:
                staff_qa(request.question or "待定的问题", text, policy_id=request.policy_id)
            except StaffQAError as exc:
                raise DeskError(f"不能保存为问答：{exc}") from exc
            if request.policy_id is not None and not await policy_exists(
                self.engine, request.policy_id
            ):
                raise DeskError(f"政策库里没有编号为 {request.policy_id} 的政策。")

    async def deliver(self, answer_id: int) -> Answer:
        """Deliver an answer's undelivered rows again (after a crash, or a refusal)."""
        if await self.inbox.answer(answer_id) is None:
            raise DeskError(f"没有编号为 {answer_id} 的答复。", 404)
        await self.courier.deliver(answer_id)
        answer = await self.inbox.answer(answer_id)
        assert answer is not None  # noqa: S101 - answers are never deleted
        return answer

    async def get_answer(self, answer_id: int) -> Answer:
        answer = await self.inbox.answer(answer_id)
        if answer is None:
            raise DeskError(f"没有编号为 {answer_id} 的答复。", 404)
        return answer

    async def dismiss(
        self, question_ids: Sequence[int], *, then: Dismissed | None = None
    ) -> list[int]:
        """``then`` writes in the same transaction as the dismissal (the console's audit row)."""
        if not question_ids:
            raise DeskError("请指定要搁置的问题编号。")
        return await self.inbox.dismiss(question_ids, then=then)

    async def overview(self, library: Library, start: date, end: date) -> Overview:
        """The dashboard's and the report export's figures (``bot.annual``)."""
        try:
            return await overview(
                self.engine, library, start, end, similarity=self.settings.staff.similarity
            )
        except StatsRangeError as exc:
            raise DeskError(f"日期范围不对：{exc}") from exc

    async def stats(self, library: Library, start: date, end: date) -> Report:
        try:
            return await report(
                self.engine, library, start, end, similarity=self.settings.staff.similarity
            )
        except StatsRangeError as exc:
            raise DeskError(f"日期范围不对：{exc}") from exc
