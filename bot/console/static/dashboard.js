// The dashboard's charts: Apache ECharts (static/vendor) over the figures the page carries in
// <script type="application/json" id="dashboard-data"> (bot/console/dashboard.py chart_data).
// Every figure is also in a table on the page and in the CSV/Excel download; the charts only
// draw them. Each chart follows its box's width (ResizeObserver), so a narrow screen works.
"use strict";
(function () {
  const block = document.getElementById("dashboard-data");
  if (!block || typeof echarts === "undefined") return;
  const data = JSON.parse(block.textContent);

  // The console's palette (console.css): green answered, amber asked to choose, red not found.
  const DECISION_COLOURS = ["#1f7a3f", "#d9a21b", "#b41f24", "#1d5fbf"];
  const DELIVERY_COLOURS = {
    sent: "#1f7a3f", failed: "#b41f24", pending: "#1d5fbf", held: "#7a8fb3",
    sending: "#5b8ad6", unknown: "#a86400", cancelled: "#9aa0a6",
  };
  const FONT = 'system-ui, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif';
  const charts = [];

  function draw(id, option, rows) {
    const el = document.getElementById(id);
    if (!el) return;
    // A bar chart is as tall as its bars need (CSSOM, which the CSP allows; not a style attribute).
    if (rows) el.style.height = Math.max(140, rows * 30 + 40) + "px";
    const chart = echarts.init(el, null, { renderer: "canvas" });
    const common = { textStyle: { fontFamily: FONT }, animation: false };
    if (option.baseOption) Object.assign(option.baseOption, common);
    else Object.assign(option, common);
    chart.setOption(option);
    charts.push(chart);
    if (window.ResizeObserver) new ResizeObserver(() => chart.resize()).observe(el);
  }

  // A ring chart: labels beside it when there is room, inside it on a phone.
  function ring(items, label) {
    return {
      baseOption: {
        tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
        legend: { bottom: 0 },
        series: [{
          type: "pie", radius: ["40%", "68%"], center: ["50%", "45%"],
          label: { formatter: label }, data: items,
        }],
      },
      media: [{
        query: { maxWidth: 420 },
        option: { series: [{ radius: ["30%", "62%"], label: { position: "inside", formatter: "{c}" } }] },
      }],
    };
  }

  function short(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  function bars(items, colour, labelWidth) {
    // Horizontal bars, largest on top; long names cut on the axis, whole in the tooltip.
    const rows = items.slice().reverse();
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: {
        type: "category",
        data: rows.map((r) => r.name),
        axisLabel: { formatter: (v) => short(v, labelWidth) },
      },
      series: [{
        type: "bar", data: rows.map((r) => r.value), itemStyle: { color: colour },
        label: { show: true, position: "right" }, barMaxWidth: 22,
      }],
    };
  }

  draw("chart-per-day", {
    color: DECISION_COLOURS,
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: data.days.length > 31 ? 48 : 8, containLabel: true },
    xAxis: { type: "category", data: data.days, axisLabel: { formatter: (v) => v.slice(5) } },
    yAxis: { type: "value", minInterval: 1 },
    dataZoom: data.days.length > 31 ? [{ type: "slider", bottom: 8, height: 20 }] : [],
    series: data.per_day.map((s) => ({
      name: s.name, type: "bar", stack: "questions", data: s.values, barMaxWidth: 28,
    })),
  });

  function nothing(text) {
    return { title: { text: text, left: "center", top: "middle",
      textStyle: { color: "#646a73", fontSize: 14, fontWeight: "normal" } } };
  }

  // Each slice keeps its colour when another is left out for being zero.
  const mix = data.mix.map((d, i) => Object.assign({ itemStyle: { color: DECISION_COLOURS[i] } }, d))
    .filter((d) => d.value > 0);
  draw("chart-mix", mix.length ? ring(mix, "{b}\n{d}%") : nothing("本期没有提问"));

  const deliveries = data.deliveries
    .map((d) => Object.assign({ itemStyle: { color: DELIVERY_COLOURS[d.key] } }, d))
    .filter((d) => d.value > 0);
  draw("chart-deliveries", deliveries.length ? ring(deliveries, "{b}\n{c}") : nothing("本期没有发出通知"));

  draw("chart-topics", bars(data.topics, "#b41f24", 10), data.topics.length);
  draw("chart-subscribers", bars(data.subscribers, "#1d5fbf", 10), data.subscribers.length);
  draw("chart-unanswered", bars(data.unanswered, "#a86400", 16), data.unanswered.length);

  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
})();
