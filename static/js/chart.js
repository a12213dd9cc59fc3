// Line charts (scoring/charts.py) as one tab stop each: Left/Right/Home/End move a cursor across
// the dates, hovering or tapping picks the nearest date, Escape hides the values. The values of
// every series at that date show in a readout (an aria-live region) on the chart, under it on a
// phone. Without JavaScript the points' <title> tooltips and the page's tables give every value.
(() => {
  function setUp(svg) {
    const xs = svg.dataset.x.split(" ").map(Number);
    const dates = JSON.parse(svg.dataset.dates);
    const readout = document.createElement("div");
    readout.className = "chart-readout";
    readout.setAttribute("aria-live", "polite");
    const hint = document.createElement("p");
    hint.className = "visually-hidden";
    hint.id = `${svg.getAttribute("aria-labelledby").split(" ")[0]}-keys`;
    hint.textContent = "Left and Right arrow keys read the values date by date; Escape hides them.";
    svg.after(readout, hint);
    svg.setAttribute("aria-describedby", hint.id);
    svg.tabIndex = 0;
    const cursor = svg.querySelector(".cursor");
    let current = -1;

    function show(index) {
      current = Math.max(0, Math.min(xs.length - 1, index));
      cursor.setAttribute("x1", xs[current]);
      cursor.setAttribute("x2", xs[current]);
      svg.classList.add("cursor-on");
      // A readout on the chart sits on the side away from the cursor.
      readout.classList.toggle("readout-left", xs[current] > (xs[0] + xs.at(-1)) / 2);
      svg.querySelectorAll("circle.active").forEach((dot) => dot.classList.remove("active"));
      const heading = document.createElement("strong");
      heading.textContent = dates[current];
      const lines = [...svg.querySelectorAll(".series")].map((series) => {
        const dot = series.querySelector(`circle[data-i="${current}"]`);
        dot?.classList.add("active");
        const line = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = `swatch ${[...series.classList].find((name) => name.startsWith("series-"))}`;
        swatch.setAttribute("aria-hidden", "true");
        // A point's title is "Mar 3: 30-day rate 20.00% (4 of 20 sessions)": the date is the heading.
        const value = dot?.querySelector("title").textContent.replace(`${dates[current]}: `, "");
        line.append(swatch, value ?? `${series.dataset.name}: no data`);
        return line;
      });
      svg.querySelectorAll(`.mark[data-i="${current}"] title`).forEach((title) => {
        const line = document.createElement("li");
        line.textContent = title.textContent;
        lines.push(line);
      });
      const list = document.createElement("ul");
      list.append(...lines);
      readout.replaceChildren(heading, list);
    }

    function hide() {
      current = -1;
      svg.classList.remove("cursor-on");
      svg.querySelectorAll("circle.active").forEach((dot) => dot.classList.remove("active"));
      readout.replaceChildren();
    }

    svg.addEventListener("keydown", (event) => {
      const moves = {
        ArrowRight: current < 0 ? 0 : current + 1,
        ArrowLeft: current < 0 ? xs.length - 1 : current - 1,
        Home: 0,
        End: xs.length - 1,
      };
      if (event.key in moves) show(moves[event.key]);
      else if (event.key === "Escape") hide();
      else return;
      event.preventDefault();
    });
    // The nearest date to the pointer, in the chart's own units.
    svg.addEventListener("pointermove", (event) => pick(event));
    svg.addEventListener("pointerdown", (event) => pick(event));
    svg.addEventListener("pointerleave", (event) => {
      if (event.pointerType === "mouse" && document.activeElement !== svg) hide();
    });
    svg.addEventListener("blur", hide);

    function pick(event) {
      const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
      let nearest = 0;
      xs.forEach((x, index) => {
        if (Math.abs(x - point.x) < Math.abs(xs[nearest] - point.x)) nearest = index;
      });
      if (nearest !== current) show(nearest);
    }
  }

  function setUpAll(root) {
    root.querySelectorAll("svg.chart-lines[data-x]:not([tabindex])").forEach(setUp);
  }
  setUpAll(document);
  document.addEventListener("htmx:load", (event) => setUpAll(event.detail.elt));
})();
