/* beredd dashboard: subscribes to one site's topics over MQTT-over-WebSockets
 * and shows them. Settings come from the address:
 *   index.html?url=ws://broker:9001&base=beredd/trondheim[&user=dashboard&password=...]
 * (url defaults to ws://<this host>:9001, base to beredd/demo; user and
 * password: the broker account, a read-only one, see mosquitto/).
 * Every value is put on the page with textContent, never as HTML. The
 * payloads carry ids, states and counts only; person ids in events are
 * deliberately not shown (they only tell one person's call from another's
 * in the counts, in memory). */
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var url = params.get("url") || "ws://" + (window.location.hostname || "localhost") + ":9001";
  var base = (params.get("base") || "beredd/demo").replace(/\/+$/, "");
  var MAX_EVENTS = 50;

  var STATES = { mobilising: "Mobiliserer", mobilised: "Mobilisert", short: "Mangler folk", resolved: "Avsluttet",
                 verifying: "Kontroll av lister", verified: "Kontroll ferdig" };
  var EVENTS = { triggered: "Utløst", step: "Nytt trinn", notify: "Varsler", sent: "Varsel sendt", failed: "Varsel feilet",
                 reply: "Svar mottatt", call: "Samtale", "call-later": "Ringer senere hvis ikke svar", skip: "Trinn hoppet over", repeat: "Starter på nytt", mobilised: "Mobilisert",
                 "short": "Mangler folk", resolved: "Avsluttet", dropped: "Hendelser tapt under brudd",
                 verify: "Kontroll av lister", "case.opened": "Oppfølging startet", reminder: "Påminnelse",
                 overdue: "Oppfølging forfalt", escalated: "Eskalert", checkin: "Oppfølging registrert",
                 level: "Nivå endret", closed: "Oppfølging avsluttet", purged: "Saker slettet" };
  var CHANNELS = { sms: "SMS", email: "e-post", voice: "telefon" };
  /* A call's state word: the "status" of a "call" event (beredd-mqtt(7)). */
  function callStatus(e) { return typeof e.status === "string" ? e.status : e.detail; }
  var CALL_DETAILS = { queued: "i kø", initiated: "startet", keypress: "tastet", answered: "svarte", ringing: "ringer", "in-progress": "svarte", completed: "avsluttet", "no-answer": "ikke svar",
                       busy: "opptatt", failed: "feilet", canceled: "avbrutt", machine: "telefonsvarer" };
  /* What each state counts as on the card. */
  var CALL_STATE = { ringing: "ringing", "in-progress": "answered", answered: "answered", completed: "answered", "no-answer": "unreached",
                     busy: "unreached", failed: "unreached", canceled: "unreached", machine: "unreached" };

  var activations = {};
  /* Calls per activation, from the event stream (not retained: counted from
   * what this page has seen since it was opened): placed = calls the
   * provider took, and per person the state of their latest call. */
  var calls = {};
  function noteCall(e) {
    if (!e.activation || e.channel !== "voice") return false;
    var c = calls[e.activation] || (calls[e.activation] = { placed: 0, who: {} });
    var who = e.person || "";
    if (e.type === "notify") c.who[who] = "queued";
    else if (e.type === "sent") { c.placed++; c.who[who] = "placed"; }
    else if (e.type === "failed") c.who[who] = "unreached";
    else if (e.type === "call" && CALL_STATE[callStatus(e)]) {
      var st = CALL_STATE[callStatus(e)];
      /* A late "ringing" never undoes an answer or an end. */
      if (!(st === "ringing" && (c.who[who] === "answered" || c.who[who] === "unreached"))) c.who[who] = st;
    } else return false;
    return true;
  }
  function callCounts(id) {
    var c = calls[id];
    if (!c) return null;
    var n = { placed: c.placed, ringing: 0, answered: 0, unreached: 0 };
    Object.keys(c.who).forEach(function (w) { if (n[c.who[w]] !== undefined && c.who[w] !== "placed") n[c.who[w]]++; });
    return n;
  }
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function hms(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()); }
  function parse(buf) {
    if (!buf || buf.length === 0) return null;
    try { return JSON.parse(new TextDecoder("utf-8").decode(buf)); } catch (e) { return undefined; }
  }

  $("site").textContent = base.split("/").pop();
  /* "12 min", "1 t 05 min", "45 s": how long, for people in a hurry. */
  function span(sec) {
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return sec + " s";
    var m = Math.floor(sec / 60);
    if (m < 60) return m + " min";
    return Math.floor(m / 60) + " t " + pad(m % 60) + " min";
  }
  /* Started, how long ago, and the countdown to the next step: redrawn
   * every second from the retained payload's unix seconds. */
  function times() {
    var now = Date.now() / 1000;
    Array.prototype.forEach.call(document.querySelectorAll("[data-created]"), function (n) {
      var t = +n.getAttribute("data-created");
      n.textContent = "Startet " + hms(new Date(t * 1000)).slice(0, 5) + " (" + span(now - t) + " siden)";
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-next]"), function (n) {
      var t = +n.getAttribute("data-next");
      n.textContent = t > now ? "Neste trinn om " + span(t - now) : "Neste trinn nå";
    });
  }
  function tick() { $("clock").textContent = hms(new Date()); times(); }
  tick();
  setInterval(tick, 1000);

  function renderActivations() {
    var box = $("activations");
    box.textContent = "";
    var ids = Object.keys(activations).sort().reverse();
    $("open-count").textContent = ids.length;
    if (!ids.length) { box.appendChild(el("p", "empty", "Ingen åpne aktiveringer.")); return; }
    ids.forEach(function (id) {
      var a = activations[id];
      var card = el("div", "card " + (a.state || ""));
      card.setAttribute("data-activation", id);
      var top = el("div", "top");
      var left = el("span", "chain", a.chain_name || a.chain || "–");
      if (a.drill) { left.appendChild(document.createTextNode(" ")); left.appendChild(el("span", "badge", "ØVELSE")); }
      top.appendChild(left);
      top.appendChild(el("span", "state", STATES[a.state] || a.state || "–"));
      card.appendChild(top);
      var nums = el("div", "numbers");
      var c = el("span", "confirmed", a.confirmed == null ? "–" : a.confirmed);
      nums.appendChild(c);
      nums.appendChild(document.createTextNode(" / "));
      nums.appendChild(el("span", "needed", a.needed == null ? "–" : a.needed));
      nums.appendChild(el("small", null, " bekreftet"));
      card.appendChild(nums);
      var bar = el("div", "bar"), fill = el("div");
      var pct = a.needed > 0 ? Math.min(100, Math.round(100 * (a.confirmed || 0) / a.needed)) : 0;
      fill.style.width = pct + "%";
      bar.appendChild(fill);
      card.appendChild(bar);
      var n = callCounts(id);
      if (n) {
        var row = el("div", "calls");
        row.appendChild(el("span", "calls-label", "Telefon"));
        [["placed", "Oppringt"], ["ringing", "Ringer"], ["answered", "Svarte"], ["unreached", "Ikke nådd"]]
          .forEach(function (k) {
            var item = el("span", "call-count " + k[0]);
            item.appendChild(el("b", null, n[k[0]]));
            item.appendChild(document.createTextNode(" " + k[1]));
            row.appendChild(item);
          });
        card.appendChild(row);
      }
      /* Each role minimum: "2 / 3" alone hides that the priest is missing. */
      if (Array.isArray(a.roles) && a.roles.length) {
        var roles = el("div", "roles");
        a.roles.forEach(function (r) {
          var ok = (r.confirmed || 0) >= (r.needed || 0);
          var item = el("span", "role " + (ok ? "met" : "unmet"));
          item.appendChild(el("b", null, (r.confirmed || 0) + "/" + (r.needed || 0)));
          item.appendChild(document.createTextNode(" " + (r.name || "")));
          roles.appendChild(item);
        });
        card.appendChild(roles);
      }
      var step = typeof a.step === "number" && a.step >= 0
        ? "Trinn " + (a.step + 1) + (typeof a.steps === "number" && a.steps > 0 ? " av " + a.steps : "") : "Starter";
      var when = el("div", "when");
      if (typeof a.created === "number") when.appendChild(el("span", "started")).setAttribute("data-created", a.created);
      if (typeof a.next_step_at === "number" && a.state === "mobilising")
        when.appendChild(el("span", "next")).setAttribute("data-next", a.next_step_at);
      card.appendChild(when);
      card.appendChild(el("div", "meta", step + " · " + id));
      box.appendChild(card);
    });
    times();
  }

  function addEvent(e) {
    var li = el("li");
    var when = typeof e.ts === "number" ? new Date(e.ts * 1000) : new Date();
    li.appendChild(el("time", null, hms(when)));
    var text = EVENTS[e.type] || e.type || "hendelse";
    if (e.type === "dropped" && typeof e.count === "number") text += " (" + e.count + ")";
    if (e.channel) text += " · " + (CHANNELS[e.channel] || e.channel);
    var cs = e.type === "call" ? callStatus(e) : null;
    if (typeof cs === "string") text += " " + (CALL_DETAILS[cs] || cs);
    if (typeof e.step === "number" && e.step >= 0) text += " · trinn " + (e.step + 1);
    if (e.drill) text += " · øvelse";
    li.appendChild(el("span", "what", text));
    if (e.activation) li.appendChild(el("span", "meta", e.activation));
    var list = $("events");
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_EVENTS) list.removeChild(list.lastChild);
  }

  /* The municipality's factor vocabulary from <base>/followup/factors:
   * id -> display name. The summary counts by id; until the vocabulary has
   * come (or for an id it lacks) the id is shown. */
  var factorNames = {}, factorOrder = [], followup = null;
  function setFactors(v) {
    factorNames = {};
    factorOrder = [];
    if (v && Array.isArray(v.factors)) v.factors.forEach(function (f) {
      if (f && typeof f.id === "string") {
        factorNames[f.id] = typeof f.name === "string" && f.name ? f.name : f.id;
        factorOrder.push(f.id);
      }
    });
    renderFactors();
  }
  /* Open cases per factor, the most first (the vocabulary's order among
   * equals); factors without open cases are left out. */
  function renderFactors() {
    var box = $("factors");
    box.textContent = "";
    var by = followup && followup.by_factor && typeof followup.by_factor === "object" ? followup.by_factor : {};
    var ids = Object.keys(by).filter(function (id) { return typeof by[id] === "number" && by[id] > 0; });
    var rank = function (id) { var k = factorOrder.indexOf(id); return k < 0 ? factorOrder.length : k; };
    ids.sort(function (a, b) { return by[b] - by[a] || rank(a) - rank(b) || (a < b ? -1 : 1); });
    ids.forEach(function (id) {
      var li = el("li");
      li.setAttribute("data-factor", id);
      li.appendChild(el("span", "name", factorNames[id] || id));
      li.appendChild(el("b", null, by[id]));
      box.appendChild(li);
    });
    var un = followup && typeof followup.unlisted_factors === "number" ? followup.unlisted_factors : 0;
    if (un > 0) {
      var li = el("li", "unlisted");
      li.appendChild(el("span", "name", "Faktor utenfor listen"));
      li.appendChild(el("b", null, un));
      box.appendChild(li);
    }
    $("factors-title").hidden = box.children.length === 0;
  }

  /* The coverage forecast (<base>/coverage/<chain>, beredd-mqtt(7)): a strip
   * per chain, a cell per day, red where a part of the day cannot be covered,
   * with the missing role's display name. Counts and role names only. */
  var coverage = {};
  var WDAY = ["sø.", "ma.", "ti.", "on.", "to.", "fr.", "lø."];
  function renderCoverage() {
    var root = $("coverage");
    root.textContent = "";
    var ids = Object.keys(coverage).sort();
    if (!ids.length) { root.appendChild(el("p", "empty", "Ingen dekningsprognose mottatt ennå.")); return; }
    ids.forEach(function (id) {
      var c = coverage[id], byDate = {}, order = [];
      (c.days || []).forEach(function (d) {
        if (!byDate[d.date]) { byDate[d.date] = []; order.push(d.date); }
        byDate[d.date].push(d);
      });
      var box = el("div", "cov");
      box.setAttribute("data-chain", id);
      var head = el("div", "cov-head");
      head.appendChild(el("span", "chain", c.chain_name || id));
      head.appendChild(el("span", "meta", (c.period ? c.period + ": " : "") +
        (c.unmet_days ? c.unmet_days + (c.unmet_days === 1 ? " dag" : " dager") + " kan ikke dekkes" : "alle dager kan dekkes")));
      var sline = null;
      if (c.survey) {
        /* The period's absence survey: counts only. */
        var sv = c.survey;
        sline = el("div", "cov-survey", "Spørsmål om fravær (" + (sv.state === "closed" ? "avsluttet" : "pågår") + "): " +
          sv.answered + " av " + sv.asked + " har svart" + (sv.away ? ", " + sv.away + " melder fravær" : ""));
        sline.setAttribute("data-survey", sv.state);
      }
      box.appendChild(head);
      if (sline) box.appendChild(sline);
      var strip = el("div", "cov-strip");
      order.forEach(function (date) {
        var parts = byDate[date], bad = parts.filter(function (p) { return !p.met; });
        var dt = date.split("-"), wd = new Date(Date.UTC(+dt[0], +dt[1] - 1, +dt[2])).getUTCDay();
        var cell = el("div", "cov-day " + (bad.length ? "unmet" : "met"));
        cell.setAttribute("data-date", date);
        cell.appendChild(el("span", "cov-date", WDAY[wd] + " " + (+dt[2]) + "." + (+dt[1])));
        var miss = [];
        bad.forEach(function (p) {
          (p.missing || []).forEach(function (m) { if (miss.indexOf(m.name || m.role) < 0) miss.push(m.name || m.role); });
          if (p.short > 0 && miss.indexOf("mangler " + p.short) < 0) miss.push("mangler " + p.short);
        });
        if (bad.length) {
          var part = bad.length < parts.length ? (bad[0].part === "office" ? "kontortid: " : "utenfor kontortid: ") : "";
          cell.appendChild(el("span", "cov-missing", part + miss.join(", ")));
        }
        var avail = parts.map(function (p) { return p.available + "/" + p.people; }).join(" ");
        cell.title = avail + " tilgjengelige";
        strip.appendChild(cell);
      });
      box.appendChild(strip);
      root.appendChild(box);
    });
  }

  function setFollowup(s) {
    var dds = document.querySelectorAll("#followup dd");
    for (var i = 0; i < dds.length; i++) {
      var v = s ? s[dds[i].getAttribute("data-key")] : null;
      dds[i].textContent = typeof v === "number" ? v : "–";
    }
    $("followup-note").style.display = s ? "none" : "";
    followup = s;
    renderFactors();
  }

  /* Gateway trouble from the retained status (beredd-mqtt(7)): a banner
   * while a gateway is down or messages wait, gone when it is over. */
  var GATEWAY = { sms: ["SMS-gatewayen", "SMS-gatewayene", "SMS-gateway"],
                  email: ["e-postgatewayen", "e-postgatewayene", "e-postgateway"],
                  voice: ["telefongatewayen", "telefongatewayene", "telefongateway"] };
  function troubleText(v) {
    var parts = [];
    var ch = v.channels || {};
    Object.keys(ch).sort().forEach(function (name) {
      var c = ch[name] || {}, g = GATEWAY[name] || [name + "-gatewayen", name + "-gatewayene", name + "-gateway"];
      if (c.up === false) parts.push(c.gateways > 1 ? "ingen av " + g[1] + " svarer" : g[0] + " svarer ikke");
      else if (c.down > 0) parts.push((c.down === 1 ? "én " + g[2] : c.down + " " + g[1].replace(/ne$/, "r")) +
                                      " svarer ikke, reserven brukes");
    });
    var n = typeof v.messages_waiting === "number" ? v.messages_waiting : 0;
    var text = "Varslingsproblem: " + (parts.length ? parts.join("; ") : "meldinger venter på en gateway");
    if (n > 0) text += " – " + (n === 1 ? "1 melding venter" : n + " meldinger venter");
    return text;
  }
  function setTrouble(v) {
    var b = $("trouble");
    var on = !!(v && v.state === "online" && (v.trouble || v.messages_waiting > 0 || v.gateways_down > 0));
    b.hidden = !on;
    b.textContent = on ? troubleText(v) : "";
  }

  function setPill(id, on, text) {
    var p = $(id);
    p.className = "pill " + (on ? "on" : "off");
    p.textContent = text;
  }

  var opts = { clean: true, reconnectPeriod: 3000, connectTimeout: 10000,
               clientId: "beredd-dashboard-" + Math.random().toString(16).slice(2, 10) };
  if (params.get("user")) {
    opts.username = params.get("user");
    opts.password = params.get("password") || "";
  }
  var client = mqtt.connect(url, opts);
  client.on("connect", function () {
    setPill("broker", true, "Tilkoblet");
    /* Retained state arrives again on every subscribe. */
    activations = {};
    renderActivations();
    coverage = {};
    renderCoverage();
    client.subscribe([base + "/status", base + "/activation/+", base + "/event", base + "/followup/summary",
                      base + "/followup/factors", base + "/coverage/+"], { qos: 1 });
  });
  client.on("reconnect", function () { setPill("broker", false, "Kobler til …"); });
  client.on("offline", function () { setPill("broker", false, "Frakoblet"); });
  client.on("error", function () { setPill("broker", false, "Feil mot megler"); });
  client.on("message", function (topic, payload) {
    var v = parse(payload);
    if (v === undefined) return;
    var sub = topic.slice(base.length + 1);
    if (sub === "status") {
      var online = v && v.state === "online";
      setPill("status", online, online ? "beredd: i drift" : "beredd: NEDE");
      /* The municipality's display name once beredd has said it. */
      if (v && typeof v.site_name === "string" && v.site_name) $("site").textContent = v.site_name;
      setTrouble(v);
    } else if (sub.indexOf("activation/") === 0) {
      var id = sub.slice("activation/".length);
      if (v && v.state && v.state !== "resolved" && v.state !== "verifying" && v.state !== "verified") activations[id] = v;
      else { delete activations[id]; delete calls[id]; }
      renderActivations();
    } else if (sub === "event") {
      if (v) {
        addEvent(v);
        if (noteCall(v) && activations[v.activation]) renderActivations();
      }
    } else if (sub === "followup/summary") {
      setFollowup(v);
    } else if (sub === "followup/factors") {
      setFactors(v);
    } else if (sub.indexOf("coverage/") === 0) {
      var chain = sub.slice("coverage/".length);
      if (v && v.days) coverage[chain] = v; else delete coverage[chain];
      renderCoverage();
    }
  });
})();
