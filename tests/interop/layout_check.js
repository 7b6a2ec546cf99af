// Appended (by tests/cli.rs) to a copy of a leadscore report, which itself has no script, and
// run by headless Chromium: measures what the browser laid out and writes what it found into a
// <pre id="layout-check"> as JSON, which `chromium --dump-dom` prints.
//
// - every text of every chart lies inside its chart and overlaps no other text of it;
// - a table wider than the page is inside a box that scrolls (`.wide`), never cut off.
(function () {
  const problems = [];
  const charts = [...document.querySelectorAll("svg")];
  let texts = 0;
  charts.forEach((svg, i) => {
    const frame = svg.getBoundingClientRect();
    const boxes = [...svg.querySelectorAll("text")]
      .filter((t) => t.textContent.trim() !== "")
      .map((t) => ({ text: t.textContent, box: t.getBoundingClientRect() }));
    texts += boxes.length;
    for (const a of boxes) {
      const b = a.box;
      if (b.left < frame.left - 1 || b.right > frame.right + 1 || b.top < frame.top - 1 || b.bottom > frame.bottom + 1) {
        problems.push(`chart ${i}: "${a.text}" is outside the chart`);
      }
    }
    for (let x = 0; x < boxes.length; x++) {
      for (let y = x + 1; y < boxes.length; y++) {
        const a = boxes[x].box;
        const b = boxes[y].box;
        const wide = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const high = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (wide > 1 && high > 1) {
          problems.push(`chart ${i}: "${boxes[x].text}" overlaps "${boxes[y].text}"`);
        }
      }
    }
  });
  const page = document.documentElement.clientWidth;
  document.querySelectorAll("table").forEach((table, i) => {
    const box = table.getBoundingClientRect();
    const scrolls = table.closest(".wide");
    if (box.right > page + 1 && !scrolls) {
      problems.push(`table ${i} (${Math.round(box.width)} px) is cut off at the page's ${page} px`);
    }
  });
  const out = document.createElement("pre");
  out.id = "layout-check";
  out.textContent = JSON.stringify({ charts: charts.length, texts, tables: document.querySelectorAll("table").length, problems });
  document.body.appendChild(out);
})();
