/*
 * nimlab self-checks: multiple-choice questions written in plain Markdown, answered in the browser.
 *
 * Markdown convention (needs the md_in_html and pymdownx.tasklist extensions):
 *
 *   <div class="selfcheck" data-id="unique-id" markdown>
 *   The question, in Markdown.
 *
 *   - [ ] a wrong choice
 *   - [x] the right choice (exactly one)
 *   - [ ] another wrong choice
 *
 *   <div class="sc-why" markdown>
 *   Why the right choice is right, and the common wrong answer and why it is wrong.
 *   </div>
 *   </div>
 *
 * Each answer is kept in localStorage under KEY as {id: {choice, correct, at}}, so progress survives reloads
 * and visits. Works with Material's instant navigation: init runs on every page through document$.
 */
(function () {
  "use strict";

  var KEY = "nimlab.selfcheck.v1";

  function load() {
    try {
      var raw = window.localStorage.getItem(KEY);
      var data = raw ? JSON.parse(raw) : {};
      return data && typeof data === "object" ? data : {};
    } catch (e) {
      return {};
    }
  }

  function save(data) {
    try {
      window.localStorage.setItem(KEY, JSON.stringify(data));
    } catch (e) {
      /* storage full or disabled: the check still works for this visit */
    }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  function show(box, picked, stored) {
    var buttons = box.querySelectorAll(".sc-option");
    var correct = Number(box.getAttribute("data-correct"));
    buttons.forEach(function (b, i) {
      b.classList.remove("sc-picked", "sc-right", "sc-wrong");
      b.setAttribute("aria-pressed", i === picked ? "true" : "false");
      if (i === correct) b.classList.add("sc-right");
      if (i === picked) b.classList.add("sc-picked");
      if (i === picked && i !== correct) b.classList.add("sc-wrong");
      b.disabled = true;
    });
    var ok = picked === correct;
    box.classList.add("sc-answered");
    box.classList.toggle("sc-correct", ok);
    box.classList.toggle("sc-incorrect", !ok);
    var fb = box.querySelector(".sc-feedback");
    fb.textContent = ok
      ? "Correct. Read the explanation to check your reason matches."
      : "Not quite: the highlighted choice is the right one. The explanation says why yours is tempting and wrong.";
    fb.hidden = false;
    var why = box.querySelector(".sc-why");
    if (why) why.hidden = false;
    box.querySelector(".sc-retry").hidden = false;
    if (stored) box.setAttribute("data-restored", "true");
  }

  function reset(box) {
    box.classList.remove("sc-answered", "sc-correct", "sc-incorrect");
    box.removeAttribute("data-restored");
    box.querySelectorAll(".sc-option").forEach(function (b) {
      b.classList.remove("sc-picked", "sc-right", "sc-wrong");
      b.setAttribute("aria-pressed", "false");
      b.disabled = false;
    });
    box.querySelector(".sc-feedback").hidden = true;
    var why = box.querySelector(".sc-why");
    if (why) why.hidden = true;
    box.querySelector(".sc-retry").hidden = true;
  }

  function build(box) {
    if (box.getAttribute("data-ready") === "true") return;
    var list = box.querySelector("ul.task-list");
    var id = box.getAttribute("data-id");
    if (!list || !id) {
      box.classList.add("sc-broken");
      return;
    }
    var choices = el("div", "sc-options");
    choices.setAttribute("role", "group");
    choices.setAttribute("aria-label", "Answer choices");
    var correct = -1;
    Array.prototype.forEach.call(list.children, function (li, i) {
      var input = li.querySelector("input[type=checkbox]");
      if (input && input.checked) correct = i;
      if (input) input.remove();
      var btn = el("button", "sc-option");
      btn.type = "button";
      btn.setAttribute("aria-pressed", "false");
      var letter = el("span", "sc-letter", String.fromCharCode(65 + i));
      var body = el("span", "sc-text");
      body.innerHTML = li.innerHTML.trim();
      btn.appendChild(letter);
      btn.appendChild(body);
      btn.addEventListener("click", function () {
        var data = load();
        data[id] = { choice: i, correct: i === correct, at: new Date().toISOString() };
        save(data);
        show(box, i, false);
        progress();
      });
      choices.appendChild(btn);
    });
    box.setAttribute("data-correct", String(correct));
    list.replaceWith(choices);

    var fb = el("p", "sc-feedback");
    fb.setAttribute("role", "status");
    fb.setAttribute("aria-live", "polite");
    fb.hidden = true;
    var why = box.querySelector(".sc-why");
    if (why) {
      why.hidden = true;
      box.insertBefore(fb, why);
    } else {
      box.appendChild(fb);
    }
    var retry = el("button", "sc-retry md-button", "Try again");
    retry.type = "button";
    retry.hidden = true;
    retry.addEventListener("click", function () {
      var data = load();
      delete data[id];
      save(data);
      reset(box);
      progress();
    });
    box.appendChild(retry);

    var label = el("p", "sc-label", "Self-check");
    box.insertBefore(label, box.firstChild);
    box.setAttribute("data-ready", "true");

    var stored = load()[id];
    if (stored && typeof stored.choice === "number" && stored.choice < choices.children.length) {
      show(box, stored.choice, true);
    }
  }

  /* "Answered 2 of 3 on this page (1 correct)" above the first check, and a site-wide total where asked. */
  function progress() {
    var boxes = document.querySelectorAll(".selfcheck[data-ready=true]");
    var data = load();
    var answered = 0;
    var right = 0;
    boxes.forEach(function (b) {
      var s = data[b.getAttribute("data-id")];
      if (s) {
        answered += 1;
        if (s.correct) right += 1;
      }
    });
    var bar = document.querySelector(".sc-progress");
    if (boxes.length && !bar) {
      bar = el("p", "sc-progress");
      bar.setAttribute("aria-live", "polite");
      var article = document.querySelector("article.md-content__inner") || document.body;
      var h1 = article.querySelector("h1");
      if (h1 && h1.nextSibling) article.insertBefore(bar, h1.nextSibling);
      else article.insertBefore(bar, article.firstChild);
    }
    if (bar) {
      bar.setAttribute("data-answered", String(answered));
      bar.setAttribute("data-total", String(boxes.length));
      bar.textContent = "Self-checks on this page: " + answered + " of " + boxes.length +
        " answered (" + right + " correct). Your answers stay in this browser.";
    }
    document.querySelectorAll(".sc-total").forEach(function (t) {
      var all = Object.keys(data);
      var ok = all.filter(function (k) { return data[k] && data[k].correct; }).length;
      t.setAttribute("data-answered", String(all.length));
      t.textContent = all.length
        ? "You have answered " + all.length + " self-check" + (all.length === 1 ? "" : "s") +
          " in this browser, " + ok + " correctly."
        : "You have not answered any self-checks in this browser yet.";
    });
    document.querySelectorAll(".sc-reset-all").forEach(function (b) {
      b.hidden = false;
    });
  }

  function init() {
    document.querySelectorAll(".selfcheck").forEach(build);
    progress();
    document.querySelectorAll(".sc-reset-all").forEach(function (b) {
      if (b.getAttribute("data-bound")) return;
      b.setAttribute("data-bound", "true");
      b.addEventListener("click", function () {
        save({});
        document.querySelectorAll(".selfcheck[data-ready=true]").forEach(reset);
        progress();
      });
    });
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(init); /* Material: every page, including instant navigation */
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
