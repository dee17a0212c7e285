// The finance dashboard: plain JS over the cost API (docs/reference.md#cost-api), no build step.
// The state (view, id, as_of, q, page) lives in the URL fragment, so any page can be shared as a link.
"use strict";

const PAGE_SIZE = 50;

// ---- state in the URL ------------------------------------------------------------------------

function readState() {
  const params = new URLSearchParams(location.hash.slice(1));
  return {
    view: params.get("view") || "overview",
    id: params.get("id") || "",
    as_of: params.get("as_of") || "",
    q: params.get("q") || "",
    page: Math.max(1, parseInt(params.get("page") || "1", 10) || 1),
  };
}

function href(state) {
  const params = new URLSearchParams();
  for (const key of ["view", "id", "as_of", "q", "page"]) {
    const value = state[key];
    if (value && !(key === "page" && value === 1)) params.set(key, value);
  }
  return "#" + params.toString();
}

// A link to another page keeps the day being looked at, and starts without a search.
const linkTo = (view, id = "") => href({view, id, as_of: readState().as_of});
const go = (changes) => { location.hash = href({...readState(), ...changes}); };

// ---- the API -----------------------------------------------------------------------------------

const answers = new Map();  // per page load: going back to a page, or paging a list, does not refetch

async function api(path, {allowMissing = false} = {}) {
  const url = new URL(path, location.origin);
  const asOf = readState().as_of;
  if (asOf) url.searchParams.set("as_of", asOf);
  const key = url.pathname + url.search;
  if (!answers.has(key)) {
    answers.set(key, fetch(key, {credentials: "same-origin"}).then(async (response) => {
      if (response.status === 401) { location.replace("/"); throw new Error("signed out"); }
      if (response.status === 404) return null;
      if (!response.ok) throw new Error(key + " answered " + response.status);
      return response.json();
    }));
  }
  const body = await answers.get(key).catch((error) => { answers.delete(key); throw error; });
  if (body === null && !allowMissing) throw new Error(key + " found nothing");
  return body;
}

// ---- formatting: the API's numbers, shown to the cent ------------------------------------------

const FORMATS = {
  money: (v) => (v < 0 ? "-$" : "$") + Math.abs(v).toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2}),
  unit: (v) => "$" + v.toLocaleString("en-US", {maximumSignificantDigits: 6}),
  pct: (v) => v.toFixed(2) + "%",
  trend: (v) => (v > 0 ? "+" : "") + v.toFixed(1) + "%",
  share: (v) => (v * 100).toFixed(2) + "%",
  int: (v) => v.toLocaleString("en-US"),
  text: (v) => String(v),
};
const show = (value, kind = "text") => value == null || value === "" ? "n/a" : FORMATS[kind](value);
const cents = (values) => values.reduce((sum, v) => sum + Math.round((v || 0) * 100), 0) / 100;

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null) continue;
    if (name === "text") node.textContent = value; else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function section(parent, title, {wide = false, id} = {}) {
  const box = element("section", {class: wide ? "wide" : null, id}, element("h2", {text: title}));
  parent.append(box);
  return box;
}

// Headline figures; data-field/data-value carry the API's number for whoever checks the page.
function figures(parent, items) {
  const row = element("div", {class: "figures"});
  for (const {label, value, kind = "money", field, link} of items) {
    const shown = link ? element("a", {href: link, text: show(value, kind)}) : show(value, kind);
    row.append(element("div", {class: "figure", "data-field": field, "data-value": value == null ? "" : value},
                       element("span", {text: label}), element("strong", {}, shown)));
  }
  parent.append(row);
}

// ---- tables: paged, with a CSV of every row -----------------------------------------------------

function csvCell(value) {
  const text = value == null ? "" : String(value);
  return /[",\n\r]/.test(text) ? '"' + text.replaceAll('"', '""') + '"' : text;
}

function downloadCsv(name, columns, rows) {
  const lines = [columns.map((c) => csvCell(c.label)).join(",")];
  for (const row of rows) {
    lines.push(columns.map((c) => {
      const value = c.csv ? c.csv(row) : row[c.key];
      return csvCell(c.kind === "money" && value != null ? value.toFixed(2) : value);
    }).join(","));
  }
  const link = element("a", {href: URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], {type: "text/csv"})),
                             download: name + ".csv"});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/**
 * A table of `rows` in `parent`. columns: [{key, label, kind, link(row), show(row), csv(row)}].
 * total: {label, values: {key: number}} shown as the footer (the CSV holds the rows only, which add up to it).
 * paging: {page, onPage(n)} pages PAGE_SIZE rows at a time (without it, every row is shown).
 */
function dataTable(parent, {id, name, columns, rows, total, paging, empty = "Nothing to show."}) {
  const table = element("table", {id});
  const head = element("tr");
  for (const c of columns) head.append(element("th", {class: isNumber(c) ? "num" : null, text: c.label}));
  table.append(element("thead", {}, head));
  const body = element("tbody");
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const page = paging ? Math.min(paging.page, pages) : 1;
  const shown = paging ? rows.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE) : rows;
  for (const row of shown) {
    const tr = element("tr");
    for (const c of columns) tr.append(cell(c, row[c.key], row));
    body.append(tr);
  }
  if (!rows.length) body.append(element("tr", {}, element("td", {colspan: columns.length, text: empty})));
  table.append(body);
  if (total) {
    const foot = element("tr");
    columns.forEach((c, i) => foot.append(i === 0 ? element("td", {text: total.label})
                                                  : cell(c, total.values[c.key], null, "total")));
    table.append(element("tfoot", {}, foot));
  }
  const tools = element("div", {class: "table-tools"});
  const download = element("button", {type: "button", class: "csv", "data-table": id, text: "Download CSV"});
  download.addEventListener("click", () => downloadCsv(`${name}-${document.body.dataset.asOf || "latest"}`, columns, rows));
  tools.append(download);
  if (paging) {
    tools.append(element("span", {class: "pager", "data-page": page, "data-pages": pages},
                         pagerLink("‹ previous", page > 1 ? page - 1 : null, paging),
                         ` page ${page} of ${pages} (${rows.length.toLocaleString("en-US")} rows) `,
                         pagerLink("next ›", page < pages ? page + 1 : null, paging)));
  }
  parent.append(tools, table);
  return table;
}

const isNumber = (column) => column.kind && column.kind !== "text";

function pagerLink(text, page, paging) {
  if (page == null) return element("span", {class: "disabled", text});
  const link = element("a", {href: paging.href(page), class: "page-link", "data-page": page, text});
  return link;
}

function cell(column, value, row, extraClass) {
  const classes = [isNumber(column) ? "num" : null, extraClass, column.cellClass ? column.cellClass(row) : null];
  const td = element("td", {class: classes.filter(Boolean).join(" ") || null,
                            "data-value": isNumber(column) && value != null ? value : null});
  const text = column.show && row ? column.show(row) : (value === undefined && !row ? "" : show(value, column.kind || "text"));
  const target = column.link && row ? column.link(row) : null;
  td.append(target ? element("a", {href: target, text}) : text);
  return td;
}

// ---- charts ------------------------------------------------------------------------------------

// plotly.js (served locally, no CDN) is 4 MB of script: fetched and parsed once, by the first page with a chart.
let plotlyLoading;
function plotly() {
  plotlyLoading ||= new Promise((resolve, reject) => {
    const script = element("script", {src: "/static/plotly.min.js"});
    script.addEventListener("load", () => resolve(window.Plotly));
    script.addEventListener("error", () => { plotlyLoading = null; reject(new Error("/static/plotly.min.js did not load")); });
    document.head.append(script);
  });
  return plotlyLoading;
}

const LAYOUT = {margin: {t: 10, r: 10, b: 40, l: 60}, legend: {orientation: "h"}};
const CONFIG = {displayModeBar: false, responsive: true};

function chart(parent, id) {
  const div = element("div", {id, class: "chart"});
  parent.append(div);
  return div;
}

function markDrawn(name) {
  const drawn = new Set((document.body.dataset.chartsDrawn || "").split(",").filter(Boolean));
  drawn.add(name);
  document.body.dataset.chartsDrawn = [...drawn].sort().join(",");
}

const DIMENSIONS = {account: "account", awsService: "provider service", chargeCategory: "charge category",
                    environment: "environment", customer: "customer"};

function rootCauses(anomaly) {
  return (anomaly.rootCauses || []).map((c) => `${DIMENSIONS[c.dimension] || c.dimension} ${c.value}: ${show(c.impactUsd, "money")}`)
                                   .join("; ");
}

function anomalyTable(parent, anomalies, name) {
  // Root causes (account, provider service, customer... by dollars) where the warehouse has them.
  const causes = anomalies.some((a) => a.rootCauses && a.rootCauses.length)
    ? [{key: "rootCauses", label: "root causes", show: rootCauses, csv: rootCauses}] : [];
  dataTable(parent, {
    id: "anomalies", name, rows: anomalies, empty: "No open anomalies.",
    columns: [
      {key: "date", label: "day"},
      {key: "service", label: "service", link: (a) => linkTo("service", a.service)},
      {key: "severity", label: "severity", show: (a) => a.severity + (a.isProvisional ? " (provisional)" : ""),
       cellClass: (a) => a && a.severity},
      {key: "currentDaily", label: "actual", kind: "money"},
      {key: "expectedDaily", label: "expected", kind: "money"},
      {key: "impactUsd", label: "impact", kind: "money"},
      {key: "reason", label: "why"},
      ...causes,
      {key: "incidentId", label: "incident"},
    ],
  });
}

// ---- the pages ---------------------------------------------------------------------------------

async function overview(state, main) {
  const trendBox = section(main, "Total cost per day, by team (last 90 days)", {wide: true});
  const marginBox = section(main, "Customers by gross margin (last 30 days): click one");
  const serviceBox = section(main, "Top services (last 30 days): click one");
  const anomalyBox = section(main, "Open anomalies (last 7 days)", {wide: true});
  await Promise.all([drawTrend(chart(trendBox, "trend")), drawMargins(chart(marginBox, "margins")),
                     drawServices(chart(serviceBox, "services")), listAnomalies(anomalyBox)]);
}

async function drawTrend(div) {
  const {trend} = await api("/costs/trend?days=90");
  const teams = [...new Set(trend.flatMap((d) => Object.keys(d.byTeam)))].sort();
  const traces = teams.map((team) => ({
    name: team, type: "scatter", mode: "lines", stackgroup: "cost",
    x: trend.map((d) => d.date), y: trend.map((d) => d.byTeam[team] || 0),
  }));
  // Days the provider still estimates are shaded: their cost may yet be revised.
  const estimated = trend.filter((d) => d.isEstimated).map((d) => d.date);
  const shapes = estimated.map((day) => ({
    type: "rect", xref: "x", yref: "paper", x0: day + "T00:00", x1: day + "T23:59", y0: 0, y1: 1,
    fillcolor: "#999", opacity: 0.2, line: {width: 0}, name: "estimated",
  }));
  const annotations = estimated.length ? [{
    xref: "x", yref: "paper", x: estimated[estimated.length - 1], y: 1, yanchor: "bottom", showarrow: false,
    text: "estimated", font: {size: 11, color: "#666"},
  }] : [];
  await (await plotly()).newPlot(div, traces, {...LAYOUT, yaxis: {tickprefix: "$"}, shapes, annotations}, CONFIG);
  div.dataset.estimatedDays = estimated.length;
  div.on("plotly_click", (event) => go({view: "team", id: teams[event.points[0].curveNumber], q: "", page: 1}));
  markDrawn("trend");
}

async function drawMargins(div) {
  const {customers} = await api("/costs/customers");
  const rows = customers.filter((c) => c.grossMargin != null).slice(0, 25).reverse();
  await (await plotly()).newPlot(div, [{
    type: "bar", orientation: "h", y: rows.map((c) => c.customerName), x: rows.map((c) => c.grossMargin),
    customdata: rows.map((c) => c.customerId),
    marker: {color: rows.map((c) => c.grossMargin < 0 ? "#d92d20" : "#12b76a")},
    hovertext: rows.map((c) => `${show(c.monthlyInfraCost, "money")} cost on ${show(c.mrr, "money")} MRR`),
  }], {...LAYOUT, margin: {...LAYOUT.margin, l: 170}, xaxis: {ticksuffix: "%"}}, CONFIG);
  div.on("plotly_click", (event) => go({view: "customer", id: event.points[0].customdata, q: "", page: 1}));
  markDrawn("margins");
}

async function drawServices(div) {
  const {services} = await api("/costs/services");
  const top = services.slice(0, 12).reverse();
  await (await plotly()).newPlot(div, [{
    type: "bar", orientation: "h", y: top.map((s) => s.service), x: top.map((s) => s.last30DaysCost),
    marker: {color: "#2e90fa"},
  }], {...LAYOUT, margin: {...LAYOUT.margin, l: 120}, xaxis: {tickprefix: "$"}}, CONFIG);
  div.on("plotly_click", (event) => go({view: "service", id: event.points[0].y, q: "", page: 1}));
  markDrawn("services");
}

async function listAnomalies(box) {
  const {anomalies} = await api("/costs/anomalies");
  anomalyTable(box, anomalies, "anomalies");
  markDrawn("anomalies");
}

function searchBox(parent, state, placeholder, onSearch) {
  const input = element("input", {id: "search", type: "search", placeholder, value: state.q, autocomplete: "off"});
  let timer;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      // Replaces the URL without a new history entry per keystroke, and redraws the list only.
      history.replaceState(null, "", href({...readState(), q: input.value.trim(), page: 1}));
      onSearch();
    }, 150);
  });
  parent.append(element("div", {class: "search"}, input));
}

const CUSTOMER_COLUMNS = [
  {key: "customerName", label: "customer", link: (c) => linkTo("customer", c.customerId)},
  {key: "customerId", label: "id"},
  {key: "mrr", label: "MRR", kind: "money"},
  {key: "monthlyInfraCost", label: "cost (30 days)", kind: "money"},
  {key: "grossMargin", label: "gross margin", kind: "pct", cellClass: (c) => c && c.isNegativeMargin ? "negative" : null},
  {key: "fullyLoadedCost", label: "fully loaded cost", kind: "money"},
  {key: "fullyLoadedMargin", label: "fully loaded margin", kind: "pct"},
  {key: "costTrend", label: "trend", kind: "trend"},
];

async function customerList(state, main) {
  const box = section(main, "Customers, lowest margin first", {wide: true});
  const {customers} = await api("/costs/customers");
  const list = element("div");
  searchBox(box, state, "Search by name or id", () => draw(readState()));
  box.append(list);
  function draw(current) {
    const needle = current.q.toLowerCase();
    const rows = needle ? customers.filter((c) => c.customerId.toLowerCase().includes(needle)
                                               || c.customerName.toLowerCase().includes(needle)) : customers;
    list.replaceChildren(element("p", {class: "count", "data-count": rows.length,
                                       text: `${rows.length.toLocaleString("en-US")} of ${customers.length.toLocaleString("en-US")} customers`}));
    dataTable(list, {
      id: "customer-list", name: "customers", columns: CUSTOMER_COLUMNS, rows,
      total: {label: "total", values: {mrr: cents(rows.map((c) => c.mrr)), monthlyInfraCost: cents(rows.map((c) => c.monthlyInfraCost)),
                                       fullyLoadedCost: cents(rows.map((c) => c.fullyLoadedCost))}},
      paging: {page: current.page, href: (n) => href({...current, page: n})},
    });
  }
  draw(state);
}

async function customerPage(state, main) {
  const id = encodeURIComponent(state.id);
  const [economics, history, allocation, {anomalies}] = await Promise.all([
    api(`/costs/customers/${id}`, {allowMissing: true}),
    api(`/costs/customers/${id}/history?days=90`, {allowMissing: true}),
    api(`/costs/customers/${id}/allocation?days=30`, {allowMissing: true}),
    api("/costs/anomalies"),
  ]);
  if (!economics) {
    section(main, `Customer ${state.id}`, {wide: true}).append(element("p", {class: "missing", text: "No unit economics for this customer on this day."}));
    return;
  }
  const head = section(main, `${economics.customerName} (${economics.customerId}), as of ${economics.asOf}`, {wide: true, id: "customer"});
  figures(head, [
    {label: "MRR", value: economics.mrr, field: "mrr"},
    {label: "cost, last 30 days", value: economics.monthlyInfraCost, field: "monthlyInfraCost"},
    {label: "gross margin", value: economics.grossMargin, kind: "pct", field: "grossMargin"},
    {label: "fully loaded cost", value: economics.fullyLoadedCost, field: "fullyLoadedCost"},
    {label: "fully loaded margin", value: economics.fullyLoadedMargin, kind: "pct", field: "fullyLoadedMargin"},
    {label: "trend vs previous 30 days", value: economics.costTrend, kind: "trend", field: "costTrend"},
    {label: "days without data", value: economics.missingDays, kind: "int", field: "missingDays"},
  ]);

  const days = history ? history.history : [];
  const x = days.map((d) => d.asOf);
  const costBox = section(main, "Cost (trailing 30 days) against MRR, as of each day of the last 90");
  await (await plotly()).newPlot(chart(costBox, "cost-mrr"), [
    {name: "cost", type: "scatter", mode: "lines+markers", x, y: days.map((d) => d.monthlyInfraCost), line: {color: "#d92d20"}},
    {name: "fully loaded cost", type: "scatter", mode: "lines", x, y: days.map((d) => d.fullyLoadedCost), line: {color: "#f79009", dash: "dot"}},
    {name: "MRR", type: "scatter", mode: "lines+markers", x, y: days.map((d) => d.mrr), line: {color: "#12b76a"}},
  ], {...LAYOUT, yaxis: {tickprefix: "$"}}, CONFIG);
  const marginBox = section(main, "Gross margin as of each day");
  await (await plotly()).newPlot(chart(marginBox, "margin-history"), [
    {name: "direct", type: "scatter", mode: "lines+markers", x, y: days.map((d) => d.grossMargin)},
    {name: "fully loaded", type: "scatter", mode: "lines+markers", x, y: days.map((d) => d.fullyLoadedMargin)},
  ], {...LAYOUT, yaxis: {ticksuffix: "%", zeroline: true, zerolinecolor: "#d92d20"}}, CONFIG);

  const byService = section(main, "Cost by service (last 30 days)");
  dataTable(byService, {
    id: "cost-by-service", name: `${economics.customerId}-cost-by-service`, rows: economics.costBreakdown,
    columns: [{key: "service", label: "service", link: (r) => linkTo("service", r.service)}, {key: "cost", label: "cost", kind: "money"}],
    total: {label: "total", values: {cost: cents(economics.costBreakdown.map((r) => r.cost))}},
  });

  const methods = section(main, "Cost by service and method (last 30 days)");
  const lines = allocation ? allocation.allocation : [];
  const placed = [...new Set(lines.map((r) => r.service))].reverse();
  await (await plotly()).newPlot(chart(methods, "cost-by-method"), [...new Set(lines.map((r) => r.method))].map((method) => ({
    name: method, type: "bar", orientation: "h", y: placed,
    x: placed.map((service) => cents(lines.filter((r) => r.service === service && r.method === method).map((r) => r.allocatedCost))),
  })), {...LAYOUT, barmode: "stack", margin: {...LAYOUT.margin, l: 110}, xaxis: {tickprefix: "$"}}, CONFIG);

  const explained = section(main, "How the cost was placed (last 30 days): by service and method, each shared pool's cost, "
                                  + "its driver and the customer's share", {wide: true});
  if (allocation) {
    dataTable(explained, {
      id: "allocation", name: `${economics.customerId}-allocation`, rows: allocation.allocation,
      columns: [
        {key: "service", label: "service", link: (r) => linkTo("service", r.service)},
        {key: "method", label: "method"},
        {key: "rule", label: "driver (rule)"},
        {key: "pooledCost", label: "pool cost", kind: "money"},
        {key: "share", label: "customer's share", kind: "share"},
        {key: "allocatedCost", label: "customer's cost", kind: "money"},
        {key: "days", label: "days", kind: "int"},
      ],
      total: {label: "total", values: {allocatedCost: allocation.total}},
    });
  } else {
    explained.append(element("p", {class: "missing", text: "No cost was placed on this customer in the last 30 days."}));
  }

  // Its anomalies: those whose root causes name the customer, or in a service it is charged for.
  const services = new Set([...economics.costBreakdown.map((r) => r.service),
                            ...(allocation ? allocation.allocation.map((r) => r.service) : [])]);
  const names = (a) => (a.rootCauses || []).some((c) => c.dimension === "customer" && c.value === economics.customerId);
  anomalyTable(section(main, "Anomalies in its services or naming it (last 7 days)", {wide: true}),
               anomalies.filter((a) => names(a) || services.has(a.service)), `${economics.customerId}-anomalies`);
}

async function serviceList(state, main) {
  const {services} = await api("/costs/services");
  const box = section(main, "Services (last 30 days), largest first", {wide: true});
  serviceTable(box, services, "services");
}

// withTotal: false where the page already shows the API's total (rows rounded to the cent may add up a cent off).
function serviceTable(box, services, name, withTotal = true) {
  dataTable(box, {
    id: "service-list", name, rows: services,
    columns: [
      {key: "service", label: "service", link: (s) => linkTo("service", s.service)},
      {key: "team", label: "team", link: (s) => linkTo("team", s.team)},
      {key: "last30DaysCost", label: "cost (30 days)", kind: "money"},
      {key: "trend", label: "trend", kind: "trend"},
    ],
    total: withTotal ? {label: "total", values: {last30DaysCost: cents(services.map((s) => s.last30DaysCost))}} : null,
  });
}

async function servicePage(state, main) {
  const [report, {customers}, {anomalies}] = await Promise.all([
    api(`/costs/services/${encodeURIComponent(state.id)}`, {allowMissing: true}), api("/costs/customers"), api("/costs/anomalies"),
  ]);
  if (!report) {
    section(main, `Service ${state.id}`, {wide: true}).append(element("p", {class: "missing", text: "No cost report for this service on this day."}));
    return;
  }
  const head = section(main, `Service ${report.service}, as of ${report.asOf}`, {wide: true, id: "service"});
  figures(head, [
    {label: "team", value: report.team, kind: "text", field: "team", link: linkTo("team", report.team)},
    {label: "cost, last 30 days", value: report.last30DaysCost, field: "last30DaysCost"},
    {label: "daily average", value: report.dailyAverage, field: "dailyAverage"},
    {label: "trend vs previous 30 days", value: report.trend, kind: "trend", field: "trend"},
    {label: "cost per request", value: report.costPerRequest, kind: "unit", field: "costPerRequest"},
    {label: "cost per customer", value: report.costPerCustomer, field: "costPerCustomer"},
    {label: "days without data", value: report.missingDays, kind: "int", field: "missingDays"},
  ]);
  const drivers = section(main, "Provider services behind it (last 30 days)");
  dataTable(drivers, {
    id: "cost-drivers", name: `${report.service}-cost-drivers`, rows: report.topCostDrivers,
    columns: [{key: "awsService", label: "provider service"}, {key: "cost", label: "cost", kind: "money"}],
    total: {label: "total", values: {cost: cents(report.topCostDrivers.map((d) => d.cost))}},
  });
  const served = customers.flatMap((c) => c.costBreakdown.filter((b) => b.service === report.service)
                                        .map((b) => ({customerId: c.customerId, customerName: c.customerName, cost: b.cost})))
                          .sort((a, b) => b.cost - a.cost);
  const customerBox = section(main, "Customers charged for it (last 30 days)");
  dataTable(customerBox, {
    id: "service-customers", name: `${report.service}-customers`, rows: served,
    columns: [{key: "customerName", label: "customer", link: (r) => linkTo("customer", r.customerId)},
              {key: "cost", label: "cost", kind: "money"}],
    total: {label: "total", values: {cost: cents(served.map((r) => r.cost))}},
    paging: {page: state.page, href: (n) => href({...state, page: n})},
  });
  anomalyTable(section(main, "Anomalies (last 7 days)", {wide: true}),
               anomalies.filter((a) => a.service === report.service), `${report.service}-anomalies`);
}

async function teamList(state, main) {
  const {teams} = await api("/costs/teams");
  dataTable(section(main, "Teams (last 30 days), largest first", {wide: true}), {
    id: "team-list", name: "teams", rows: teams,
    columns: [{key: "team", label: "team", link: (t) => linkTo("team", t.team)},
              {key: "totalCost", label: "cost (30 days)", kind: "money"}, {key: "serviceCount", label: "services", kind: "int"}],
    total: {label: "total", values: {totalCost: cents(teams.map((t) => t.totalCost))}},
  });
}

async function teamPage(state, main) {
  const [{teams}, {trend}, {services}, waste] = await Promise.all([
    api("/costs/teams"), api("/costs/trend?days=90"), api("/costs/services"), api("/costs/waste"),
  ]);
  const team = teams.find((t) => t.team === state.id);
  const head = section(main, `Team ${state.id}`, {wide: true, id: "team"});
  figures(head, [
    {label: "cost, last 30 days", value: team ? team.totalCost : null, field: "totalCost"},
    {label: "services", value: team ? team.serviceCount : null, kind: "int", field: "serviceCount"},
  ]);
  const daily = section(main, "Cost per day (last 90 days)", {wide: true});
  await (await plotly()).newPlot(chart(daily, "team-trend"), [{
    name: state.id, type: "bar", x: trend.map((d) => d.date), y: trend.map((d) => d.byTeam[state.id] || 0), marker: {color: "#2e90fa"},
  }], {...LAYOUT, yaxis: {tickprefix: "$"}}, CONFIG);
  serviceTable(section(main, "Its services (last 30 days)", {wide: true}), services.filter((s) => s.team === state.id),
               `${state.id}-services`, false);
  wasteTable(section(main, "Its off-hours waste (last 30 days)", {wide: true}), waste.waste.filter((w) => w.team === state.id),
             `${state.id}-waste`);
}

function wasteTable(box, rows, name, withTotal = true) {
  dataTable(box, {
    id: "waste-list", name, rows,
    columns: [
      {key: "environment", label: "environment"},
      {key: "service", label: "service", link: (w) => linkTo("service", w.service)},
      {key: "team", label: "team", link: (w) => linkTo("team", w.team)},
      {key: "totalCost", label: "cost", kind: "money"},
      {key: "offHoursCost", label: "off hours", kind: "money"},
      {key: "offHoursShare", label: "off-hours share", kind: "share"},
      {key: "schedulableOffHoursCost", label: "schedulable", kind: "money"},
      {key: "monthlySaving", label: "monthly saving", kind: "money"},
      {key: "coverage", label: "hours observed", kind: "share"},
    ],
    total: withTotal ? {label: "total", values: {
      totalCost: cents(rows.map((w) => w.totalCost)), offHoursCost: cents(rows.map((w) => w.offHoursCost)),
      schedulableOffHoursCost: cents(rows.map((w) => w.schedulableOffHoursCost)), monthlySaving: cents(rows.map((w) => w.monthlySaving)),
    }} : null,
  });
}

async function wastePage(state, main) {
  const waste = await api("/costs/waste");
  const head = section(main, `Non-production spend outside working hours (${waste.windowStart || "?"} to ${waste.asOf || "?"}; working hours ${waste.workingHours || "n/a"})`, {wide: true, id: "waste"});
  figures(head, [
    {label: "non-production cost", value: waste.totalCost, field: "totalCost"},
    {label: "outside working hours", value: waste.offHoursCost, field: "offHoursCost"},
    {label: "schedulable", value: waste.schedulableOffHoursCost, field: "schedulableOffHoursCost"},
    {label: "monthly saving", value: waste.monthlySaving, field: "monthlySaving"},
  ]);
  dataTable(section(main, "By environment", {wide: true}), {
    id: "waste-environments", name: "waste-environments", rows: waste.environments,
    columns: [
      {key: "environment", label: "environment"}, {key: "totalCost", label: "cost", kind: "money"},
      {key: "offHoursCost", label: "off hours", kind: "money"}, {key: "schedulableOffHoursCost", label: "schedulable", kind: "money"},
      {key: "schedulableShare", label: "schedulable share", kind: "share"}, {key: "monthlySaving", label: "monthly saving", kind: "money"},
      {key: "coverage", label: "hours observed", kind: "share"},
    ],
  });
  wasteTable(section(main, "By service", {wide: true}), waste.waste, "waste", false);
  const resources = waste.waste.flatMap((w) => w.topResources.map((r) => ({service: w.service, environment: w.environment, ...r})));
  dataTable(section(main, "Resources to schedule", {wide: true}), {
    id: "waste-resources", name: "waste-resources", rows: resources,
    columns: [
      {key: "environment", label: "environment"}, {key: "service", label: "service", link: (r) => linkTo("service", r.service)},
      {key: "resourceId", label: "resource"}, {key: "offHoursCost", label: "off hours", kind: "money"},
      {key: "schedulableOffHoursCost", label: "schedulable", kind: "money"}, {key: "monthlySaving", label: "monthly saving", kind: "money"},
    ],
  });
}

const VIEWS = {
  overview, customers: customerList, customer: customerPage, services: serviceList, service: servicePage,
  teams: teamList, team: teamPage, waste: wastePage,
};

// ---- the frame: as_of picker, navigation, rendering --------------------------------------------

let renderCount = 0;

async function showAsOf(state) {
  // The latest day with data, for the picker's bound and the header.
  const {asOf} = await api("/costs/customers");
  const picker = document.getElementById("as-of-picker");
  document.body.dataset.asOf = state.as_of || asOf || "";
  picker.value = state.as_of || asOf || "";
  document.getElementById("as-of").textContent = state.as_of ? "" : (asOf ? "(latest)" : "no data yet");
}

async function render() {
  const state = readState();
  const mine = ++renderCount;
  const view = VIEWS[state.view] || overview;
  const main = document.getElementById("view");
  main.replaceChildren();
  delete document.body.dataset.rendered;
  delete document.body.dataset.error;
  document.body.dataset.chartsDrawn = "";
  for (const link of document.querySelectorAll("nav a")) {
    link.href = linkTo(link.dataset.view);
    link.classList.toggle("current", link.dataset.view === state.view.replace(/^(customer|service|team)$/, "$1s"));
  }
  try {
    await Promise.all([showAsOf(state), view(state, main)]);
    if (mine === renderCount) document.body.dataset.rendered = href(state);
  } catch (error) {
    if (mine !== renderCount) return;
    document.body.dataset.error = error.message;
    main.append(element("p", {class: "error", text: error.message}));
    console.error(error);
  }
}

// Already signed in and opened at /#token=...: the token must not stay in the address bar, nor in a shared link.
if (new URLSearchParams(location.hash.slice(1)).has("token")) history.replaceState(null, "", "/");
document.getElementById("as-of-picker").addEventListener("change", (event) => go({as_of: event.target.value}));
document.getElementById("as-of-latest").addEventListener("click", () => go({as_of: ""}));
window.addEventListener("hashchange", render);
render();
