(function(){
"use strict";
var PAGE = 100;
var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
var tables = Array.prototype.slice.call(document.querySelectorAll("table.data"));
var search = document.getElementById("search-all");
var facetBar = document.getElementById("facet");
var facet = null;
// review: every write row with its box (rows of the plan's Deletes, Updates and Adds
// tables whose key the page shows), in page order; a refused one's comment box is
// made when it is first unchecked
var bar = document.getElementById("review-bar");
var writes = Array.prototype.map.call(document.querySelectorAll("tr[data-write]"), function(r){
  return {row: r, table: r.closest("table"), kind: r.getAttribute("data-write"),
          key: r.getAttribute("data-write-key"),
          box: r.querySelector('td.rv input[type="checkbox"]'), note: null};
});
function cellText(row, i){
  var c = row.cells[i];
  if (!c){ return ""; }
  return (c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent).trim();
}
function rowsOf(table){ return Array.prototype.slice.call(table.tBodies[0].rows); }
function matches(row, table){
  var text = row.textContent.toLowerCase();
  var q = search ? search.value.trim().toLowerCase() : "";
  if (q && text.indexOf(q) < 0){ return false; }
  var local = table.getAttribute("data-filter") || "";
  if (local && text.indexOf(local) < 0){ return false; }
  if (facet){
    var v = row.getAttribute("data-" + facet.key);
    if (v === null || v.split(";").indexOf(facet.value) < 0){ return false; }
  }
  return true;
}
function render(table){
  var rows = rowsOf(table), matched = [], writesShown = 0;
  rows.forEach(function(r){
    if (matches(r, table)){
      matched.push(r);
      if (r.hasAttribute("data-write")){ writesShown += 1; }
    }
    r.hidden = true;
  });
  var pages = Math.max(1, Math.ceil(matched.length / PAGE));
  var page = Math.min(parseInt(table.getAttribute("data-page") || "0", 10), pages - 1);
  table.setAttribute("data-page", page);
  matched.slice(page * PAGE, (page + 1) * PAGE).forEach(function(r){ r.hidden = false; });
  table.setAttribute("data-matched", matched.length);
  table.setAttribute("data-matched-writes", writesShown);
  var out = document.querySelector('.count[data-for="' + table.id + '"]');
  if (out){
    var unit = rows.length === 1 ? " row" : " rows";
    out.textContent = matched.length === rows.length ? rows.length.toLocaleString() + unit
      : matched.length.toLocaleString() + " of " + rows.length.toLocaleString() + " rows match";
  }
  var pager = document.querySelector('.pager[data-for="' + table.id + '"]');
  if (pager){
    pager.hidden = pages < 2;
    pager.querySelector(".page").textContent = "rows " + (matched.length ? page * PAGE + 1 : 0)
      + "\u2013" + Math.min((page + 1) * PAGE, matched.length) + " of " + matched.length
      + " (page " + (page + 1) + " of " + pages + ")";
    pager.querySelector(".prev").disabled = page === 0;
    pager.querySelector(".next").disabled = page >= pages - 1;
  }
  reviewShown();
}
function renderAll(){
  tables.forEach(render);
  if (facetBar){
    facetBar.hidden = !facet;
    if (facet){
      facetBar.querySelector(".what").textContent = facet.key + " " + facet.value;
      var n = 0;
      tables.forEach(function(t){ n += parseInt(t.getAttribute("data-matched") || "0", 10); });
      facetBar.querySelector(".n").textContent = n.toLocaleString();
    }
  }
  document.documentElement.setAttribute("data-filtered-by", facet ? facet.key + ":" + facet.value : "");
}
function sortTable(table, key, desc){
  var ths = table.tHead.rows[0].cells, idx = -1;
  for (var i = 0; i < ths.length; i++){
    if (!ths[i].hasAttribute("data-key")){ continue; }
    if (ths[i].getAttribute("data-key") === key){ idx = i; }
    ths[i].setAttribute("aria-sort", "none");
  }
  if (idx < 0){ return false; }
  var numeric = ths[idx].classList.contains("num");
  var body = table.tBodies[0], rows = rowsOf(table);
  rows.forEach(function(r, n){ if (!r.hasAttribute("data-i")){ r.setAttribute("data-i", n); } });
  rows.sort(function(a, b){
    var x = cellText(a, idx), y = cellText(b, idx), r;
    if (x === "" || y === ""){ r = (x === "") - (y === ""); if (r){ return r; } }
    if (numeric && x !== "" && y !== ""){ r = parseFloat(x) - parseFloat(y); }
    else { r = collator.compare(x, y); }
    if (desc){ r = -r; }
    return r || (a.getAttribute("data-i") - b.getAttribute("data-i"));
  });
  rows.forEach(function(r){ body.appendChild(r); });
  ths[idx].setAttribute("aria-sort", desc ? "descending" : "ascending");
  table.setAttribute("data-sorted", (desc ? "-" : "") + key);
  render(table);
  return true;
}
function setFacet(spec){
  var at = spec.indexOf(":");
  var next = {key: spec.slice(0, at), value: spec.slice(at + 1)};
  facet = facet && facet.key === next.key && facet.value === next.value ? null : next;
  tables.forEach(function(t){ t.setAttribute("data-page", 0); });
  renderAll();
  if (facet){
    var first = tables.filter(function(t){ return t.getAttribute("data-matched") !== "0"; })[0];
    if (first){
      var d = first.closest("details"); if (d){ d.open = true; }
      first.closest("section").scrollIntoView();
    }
  }
}
function csvCell(v){
  if (/^[=+\-@\t\r]/.test(v)){ v = "'" + v; }
  return '"' + v.replace(/"/g, '""') + '"';
}
function saveCsv(name, lines){
  var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], {type: "text/csv"});
  var a = document.createElement("a");
  a.href = URL["createObjectURL"](blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}
function download(table){
  // the table's own columns: the review column (a box and a comment) is not data
  var heads = table.tHead.rows[0].cells, columns = [];
  for (var i = 0; i < heads.length; i++){ if (!heads[i].classList.contains("rv")){ columns.push(i); } }
  var lines = [columns.map(function(i){ return csvCell(heads[i].textContent.trim()); }).join(",")];
  rowsOf(table).forEach(function(r){
    if (!matches(r, table)){ return; }
    lines.push(columns.map(function(i){ return csvCell(cellText(r, i)); }).join(","));
  });
  saveCsv(table.id + "-shown.csv", lines);
}
function plural(n, one, many){ return n.toLocaleString() + " " + (n === 1 ? one : many); }
function reviewCount(){
  if (!bar){ return; }
  var sent = {"add": 0, "update": 0, "delete": 0}, n = 0, per = {};
  writes.forEach(function(w){
    var on = w.box.checked;
    w.row.classList.toggle("off", !on);
    if (!on && !w.note){
      w.note = document.createElement("input");
      w.note.type = "text";
      w.note.className = "rv-note";
      w.note.placeholder = "why not (optional)";
      w.note.setAttribute("aria-label", "why the " + w.kind + " of " + w.key + " is refused");
      w.box.parentNode.appendChild(w.note);
    }
    if (w.note){ w.note.hidden = on; }
    if (on){ sent[w.kind] += 1; n += 1; per[w.table.id] = (per[w.table.id] || 0) + 1; }
  });
  // each table's own: of all its rows (a row not listed is not sent)
  Array.prototype.forEach.call(document.querySelectorAll(".rv-count"), function(out){
    var of = parseInt(out.getAttribute("data-total"), 10);
    out.textContent = (per[out.getAttribute("data-for")] || 0).toLocaleString() + " of "
      + of.toLocaleString() + " will be sent";
  });
  var total = parseInt(bar.getAttribute("data-total"), 10);
  bar.querySelector(".sent").textContent = n.toLocaleString() + " of "
    + plural(total, "write", "writes") + " will be sent: " + plural(sent["add"], "add", "adds")
    + ", " + plural(sent["update"], "update", "updates") + ", "
    + plural(sent["delete"], "delete", "deletes");
}
function reviewShown(){
  if (!bar){ return; }
  var n = 0;
  tables.forEach(function(t){ n += parseInt(t.getAttribute("data-matched-writes") || "0", 10); });
  bar.querySelector(".shown").textContent = "(" + plural(n, "write", "writes") + " shown)";
}
function reviewSetShown(send, table){
  // every write the search, the table filters and the facet leave, on every page (of
  // one table, or of all)
  writes.forEach(function(w){
    if ((!table || w.table === table) && matches(w.row, w.table)){ w.box.checked = send; }
  });
  reviewCount();
}
function decisions(){
  var lines = ["key,action,decision,comment"];
  writes.forEach(function(w){
    var on = w.box.checked;  // a comment goes with a refused write (apply reports it)
    lines.push([w.key, w.kind, on ? "approve" : "reject", on ? "" : w.note.value.trim()]
               .map(csvCell).join(","));
  });
  saveCsv("decisions.csv", lines);
}
tables.forEach(function(table){
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th){
    if (!th.hasAttribute("data-key")){ return; }  // the review column does not sort
    function go(){
      sortTable(table, th.getAttribute("data-key"), th.getAttribute("aria-sort") === "ascending");
    }
    th.addEventListener("click", go);
    th.addEventListener("keydown", function(e){
      if (e.key === "Enter" || e.key === " "){ e.preventDefault(); go(); }
    });
  });
});
Array.prototype.forEach.call(document.querySelectorAll("input.filter"), function(input){
  var table = document.getElementById(input.getAttribute("data-table"));
  input.addEventListener("input", function(){
    table.setAttribute("data-filter", input.value.trim().toLowerCase());
    table.setAttribute("data-page", 0);
    render(table);
  });
});
if (search){
  search.addEventListener("input", function(){
    tables.forEach(function(t){ t.setAttribute("data-page", 0); });
    renderAll();
  });
}
Array.prototype.forEach.call(document.querySelectorAll(".pager"), function(pager){
  var table = document.getElementById(pager.getAttribute("data-for"));
  function move(by){
    table.setAttribute("data-page", parseInt(table.getAttribute("data-page") || "0", 10) + by);
    render(table);
  }
  pager.querySelector(".prev").addEventListener("click", function(){ move(-1); });
  pager.querySelector(".next").addEventListener("click", function(){ move(1); });
});
Array.prototype.forEach.call(document.querySelectorAll("button.dl"), function(button){
  button.addEventListener("click", function(){
    download(document.getElementById(button.getAttribute("data-table")));
  });
});
document.addEventListener("click", function(e){
  var el = e.target.closest ? e.target.closest("[data-facet]") : null;
  if (el){ setFacet(el.getAttribute("data-facet")); }
});
if (bar){
  document.getElementById("review-uncheck").addEventListener("click", function(){
    reviewSetShown(false);
  });
  document.getElementById("review-check").addEventListener("click", function(){
    reviewSetShown(true);
  });
  document.getElementById("review-download").addEventListener("click", decisions);
  Array.prototype.forEach.call(document.querySelectorAll("button.rv-set"), function(button){
    var table = document.getElementById(button.getAttribute("data-table"));
    button.addEventListener("click", function(){
      reviewSetShown(button.getAttribute("data-send") === "yes", table);
    });
  });
  document.addEventListener("change", function(e){
    if (e.target.closest && e.target.closest("td.rv")){ reviewCount(); }
  });
}
if (facetBar){
  facetBar.querySelector("button").addEventListener("click", function(){
    facet = null; renderAll();
  });
}
function fromHash(){
  var params = new URLSearchParams(location.hash.replace(/^#/, ""));
  params.getAll("sort").forEach(function(spec){
    var desc = spec.charAt(0) === "-", name = desc ? spec.slice(1) : spec;
    var dot = name.indexOf("."), only = dot > 0 ? name.slice(0, dot) : null;
    var key = dot > 0 ? name.slice(dot + 1) : name;
    tables.forEach(function(t){
      if (only === null || t.id === only){ sortTable(t, key, desc); }
    });
  });
  var q = params.get("q");
  if (q !== null && search){ search.value = q; }
  var f = params.get("facet");
  if (f){ facet = null; setFacet(f); }
  renderAll();
}
renderAll();
reviewCount();
if (location.hash){ fromHash(); }
window.addEventListener("hashchange", fromHash);
document.documentElement.setAttribute("data-report", "ready");
})();
