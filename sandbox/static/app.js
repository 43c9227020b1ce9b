// The sandbox's channel page: polls /sandbox/state, renders the channel as Slack would (Block Kit, mrkdwn,
// ephemeral messages, edits, threads), sends /cftoken commands and button clicks as the picked person.
"use strict";

const EMOJI = {
  white_check_mark: "✅", x: "❌", warning: "⚠️", mag: "🔍", alarm_clock: "⏰", hourglass: "⌛",
  hourglass_flowing_sand: "⏳", inbox_tray: "📥", gear: "⚙️", no_entry: "⛔", heavy_multiplication_x: "✖️",
  large_green_circle: "🟢", large_yellow_circle: "🟡", red_circle: "🔴", white_circle: "⚪",
  rotating_light: "🚨", repeat: "🔁", lock: "🔒", key: "🔑", ticket: "🎫", tada: "🎉", wave: "👋",
  information_source: "ℹ️", heavy_check_mark: "✔️", arrows_counterclockwise: "🔄", fire: "🔥",
};

const state = { viewer: localStorage.getItem("cftoken-sandbox-viewer") || "", last: "", data: null, open: new Set(),
  breakChoice: {} };
const $ = (id) => document.getElementById(id);

function esc(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function unslack(text) { // Slack's own escapes back to characters (they are re-escaped for HTML afterwards)
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function nameOf(user) { return (state.data && state.data.names[user]) || user; }
function channelName(id) { return state.data && state.data.channel.id === id ? state.data.channel.name : id; }

function angle(token) { // <…> in mrkdwn: mentions, channels, special mentions, links
  const [target, label] = token.split("|", 2);
  if (target.startsWith("@")) return `<span class="mention">@${esc(nameOf(target.slice(1)))}</span>`;
  if (target.startsWith("#")) return `<span class="mention">#${esc(label || channelName(target.slice(1)))}</span>`;
  if (target.startsWith("!subteam^")) return `<span class="mention">@${esc(label || "group")}</span>`;
  if (target.startsWith("!date^")) return `<time data-testid="date">${esc(slackDate(target, label))}</time>`;
  if (target.startsWith("!")) return `<span class="mention">@${esc(target.slice(1).split("^")[0])}</span>`;
  const url = unslack(target);
  if (!/^(https?:|mailto:)/i.test(url)) return esc(`<${unslack(token)}>`);
  return `<a href="${esc(url)}" target="_blank" rel="noopener">${esc(unslack(label || target))}</a>`;
}

function slackDate(target, fallback) { // <!date^EPOCH^{date_short_pretty} {time}|fallback> in the reader's zone
  const [, epoch, format] = target.split("^");
  const d = new Date(Number(epoch) * 1000);
  if (!format || Number.isNaN(d.getTime())) return unslack(fallback || "");
  const day = d.toLocaleDateString(undefined, { month: "short", day: "numeric", year: "numeric" });
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return format.replace("{date_short_pretty}", day).replace("{date_short}", day).replace("{date}", day)
    .replace("{date_long}", day).replace("{time}", time);
}

function inline(text) { // mrkdwn outside code spans → HTML
  const tokens = [];
  const keep = (html) => `\u0001${tokens.push(html) - 1}\u0002`;
  let out = text.replace(/<([^<>\n]+)>/g, (_, token) => keep(angle(token)));
  out = out.replace(/\bhttps?:\/\/[^\s<>\u0001]+?(?=[.,;:!?)]*(\s|$|\u0001))/g, (url) => keep(angle(url))); // Slack links bare URLs
  out = esc(unslack(out));
  const before = "(^|[\\s(\\u0002>])", after = "(?=$|[\\s.,;:!?)\\u0001<])";
  out = out.replace(new RegExp(before + "\\*([^*\\n]+?)\\*" + after, "g"), "$1<b>$2</b>");
  out = out.replace(new RegExp(before + "_([^_\\n]+?)_" + after, "g"), "$1<i>$2</i>");
  out = out.replace(new RegExp(before + "~([^~\\n]+?)~" + after, "g"), "$1<s>$2</s>");
  out = out.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
  out = out.replace(/\u0001(\d+)\u0002/g, (_, i) => tokens[Number(i)]);
  return out.replace(/\n/g, "<br>");
}

function mrkdwn(text) {
  const parts = String(text || "").split(/(```[\s\S]*?```|`[^`\n]+`)/);
  return parts.map((part, i) => {
    if (i % 2 === 0) return inline(part);
    if (part.startsWith("```")) return `<pre>${esc(unslack(part.slice(3, -3)))}</pre>`;
    return `<code>${esc(unslack(part.slice(1, -1)))}</code>`;
  }).join("");
}

function textObject(obj) {
  if (!obj) return "";
  if (obj.type === "plain_text") {
    return esc(obj.text).replace(/:([a-z0-9_+-]+):/g, (whole, n) => (obj.emoji !== false && EMOJI[n]) || whole);
  }
  return mrkdwn(obj.text);
}

function button(el, message, blockId) {
  const style = el.style ? ` ${el.style}` : "";
  const confirm = el.confirm ? ` data-confirm="${esc(JSON.stringify(el.confirm))}"` : "";
  return `<button type="button" class="bk-button${style}" data-testid="button-${esc(el.action_id)}"` +
    ` data-action-id="${esc(el.action_id)}" data-value="${esc(el.value || "")}" data-block-id="${esc(blockId || "")}"` +
    ` data-ts="${esc(message.ts)}"${confirm}>${textObject(el.text)}</button>`;
}

function element(el, message, blockId) {
  if (el.type === "button") return button(el, message, blockId);
  if (el.type === "image") return `<img class="bk-image" src="${esc(el.image_url)}" alt="${esc(el.alt_text || "")}">`;
  if (el.type === "mrkdwn" || el.type === "plain_text") return `<span>${textObject(el)}</span>`;
  return `<span class="unsupported">[${esc(el.type)}]</span>`;
}

function block(b, message) {
  const id = b.block_id || "";
  switch (b.type) {
    case "header": return `<div class="bk-header" data-testid="block-header">${textObject(b.text)}</div>`;
    case "divider": return `<hr class="bk-divider" data-testid="block-divider">`;
    case "context": return `<div class="bk-context" data-testid="block-context">${(b.elements || []).map((e) => element(e, message, id)).join(" ")}</div>`;
    case "actions": return `<div class="bk-actions" data-testid="block-actions">${(b.elements || []).map((e) => element(e, message, id)).join("")}</div>`;
    case "image": return `<img class="bk-image" src="${esc(b.image_url)}" alt="${esc(b.alt_text || "")}">`;
    case "section": {
      const text = b.text ? `<div class="bk-text">${textObject(b.text)}</div>` : "";
      const fields = b.fields ? `<div class="bk-fields">${b.fields.map((f) => `<div>${textObject(f)}</div>`).join("")}</div>` : "";
      const accessory = b.accessory ? `<div class="bk-accessory">${element(b.accessory, message, id)}</div>` : "";
      return `<div class="bk-section" data-testid="block-section"><div class="bk-main">${text}${fields}</div>${accessory}</div>`;
    }
    default: return `<div class="unsupported">[${esc(b.type)} block]</div>`;
  }
}

function clock(ts) {
  const d = new Date(Number(ts) * 1000);
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function changes(versions) { // each earlier version as the lines it changed (the first: its first line)
  return versions.map((text, i) => {
    const lines = text.split("\n");
    if (i === 0) return lines[0];
    const before = new Set(versions[i - 1].split("\n"));
    return lines.filter((line) => !before.has(line)).join("\n") || "(no visible change)";
  });
}

function messageHtml(m, reply) {
  const body = m.blocks && m.blocks.length ? m.blocks.map((b) => block(b, m)).join("") : `<div class="bk-text">${mrkdwn(m.text)}</div>`;
  const who = m.is_bot ? `${esc(m.author)} <span class="app-badge">APP</span>` : esc(m.author);
  const only = m.ephemeral ? `<div class="ephemeral-note" data-testid="ephemeral-note">👁 Only visible to you</div>` : "";
  const edited = m.edited ? ` <span class="edited" data-testid="edited">(edited)</span>` : "";
  const earlier = (m.earlier || []).length  // not in Slack: the sandbox lets you see every step a message went through
    ? `<details class="earlier" data-testid="earlier-versions"${state.open.has(m.ts) ? " open" : ""} data-ts="${esc(m.ts)}">` +
      `<summary>${m.earlier.length} earlier ${m.earlier.length === 1 ? "version" : "versions"}</summary>` +
      changes(m.earlier).map((text, i) => `<div class="version" data-testid="earlier-version"><span class="hint">${i + 1}.</span> ${mrkdwn(text)}</div>`).join("") +
      `</details>`
    : "";
  const replies = (m.replies || []).length
    ? `<div class="thread" data-testid="thread"><div class="thread-count">${m.replies.length} ${m.replies.length === 1 ? "reply" : "replies"}</div>${m.replies.map((r) => messageHtml(r, true)).join("")}</div>`
    : "";
  return `<div class="message${m.ephemeral ? " ephemeral" : ""}${reply ? " reply" : ""}" data-testid="message"` +
    ` data-ts="${esc(m.ts)}" data-ephemeral="${m.ephemeral}">` +
    `<div class="avatar${m.is_bot ? " bot" : ""}">${esc((m.author || "?").slice(0, 1).toUpperCase())}</div>` +
    `<div class="content">${only}<div class="meta"><span class="author">${who}</span>` +
    ` <span class="time">${clock(m.ts)}</span>${edited}</div><div class="body">${body}</div>${earlier}${replies}</div></div>`;
}

function renderMessages(data) {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.innerHTML = data.messages.length
    ? data.messages.map((m) => messageHtml(m, false)).join("")
    : `<div class="empty">No messages yet. Type a /cftoken command below.</div>`;
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function renderRefusals(data) { // not in Slack: Slack would have refused these messages, so nobody saw them
  const box = $("refusals");
  box.hidden = !data.refusals.length;
  box.innerHTML = data.refusals.map((r) =>
    `<div class="refusal" data-testid="refusal"><b>Slack refused a message</b> (${esc(r.method)}: <code>${esc(r.error)}</code>)` +
    `${r.text ? ` “${esc(r.text)}”` : ""}<ul>${r.messages.map((m) => `<li><code>${esc(m)}</code></li>`).join("")}</ul></div>`).join("");
}

function renderView(data) { // the first modal the bot opened for this person, as Slack shows it
  const view = data.views[0];
  const box = $("view");
  if (!view) { box.hidden = true; box.dataset.viewId = ""; return; }
  if (box.dataset.viewId === view.id) return; // keep what is being typed
  box.dataset.viewId = view.id;
  $("view-title").innerHTML = textObject(view.title);
  $("view-blocks").innerHTML = view.blocks.map((b) => {
    if (b.type !== "input") return block(b, { ts: "" });
    const el = b.element || {};
    const field = el.multiline
      ? `<textarea data-testid="view-input" data-block-id="${esc(b.block_id)}" data-action-id="${esc(el.action_id)}" rows="4"></textarea>`
      : `<input data-testid="view-input" data-block-id="${esc(b.block_id)}" data-action-id="${esc(el.action_id)}">`;
    const hint = b.hint ? `<div class="hint">${textObject(b.hint)}</div>` : "";
    const error = (view.errors || {})[b.block_id];
    const shown = error ? `<div class="view-error" data-testid="view-error">${esc(error)}</div>` : "";
    return `<label class="view-input">${textObject(b.label)}${b.optional ? " <span class=\"hint\">(optional)</span>" : ""}${field}${hint}${shown}</label>`;
  }).join("");
  $("view-submit").innerHTML = textObject(view.submit || { type: "plain_text", text: "Submit" });
  $("view-close").innerHTML = textObject(view.close || { type: "plain_text", text: "Cancel" });
  box.hidden = false;
}

async function submitView(close) {
  const box = $("view");
  const values = {};
  box.querySelectorAll("[data-testid=view-input]").forEach((input) => {
    values[input.dataset.blockId] = { ...(values[input.dataset.blockId] || {}), [input.dataset.actionId]: input.value };
  });
  try {
    if (!close) await post("/sandbox/submit", { user: state.viewer, view_id: box.dataset.viewId, values });
    else await post("/sandbox/submit", { user: state.viewer, view_id: box.dataset.viewId, values: {}, closed: true });
  } catch (error) {
    $("composer-status").textContent = `Submit failed: ${error.message}`;
  }
  box.hidden = true;
  setTimeout(refresh, 150);
}

function renderWorld(data) {
  const offset = data.clock.offset_days ? ` (fast-forwarded ${data.clock.offset_days} days)` : "";
  $("clock").textContent = data.clock.now.replace("T", " ").slice(0, 16) + " UTC" + offset;
  $("tokens").innerHTML = data.world.tokens.map((t) => {
    const days = t.days_left === null ? "" : ` (${t.days_left < 0 ? "expired" : `in ${t.days_left} days`})`;
    const expiry = t.expires_on ? `${esc(t.expires_on)}${days}` : "no expiry";
    const companions = Object.entries(t.companions).map(([k, v]) => `<div><span class="k">${esc(k)}</span> ${esc(v)}</div>`).join("");
    return `<div class="token" data-testid="world-token" data-name="${esc(t.name)}">` +
      `<div class="token-name">${esc(t.name)} <span class="status ${esc(t.status)}" data-testid="token-status">${esc(t.status)}</span></div>` +
      `<div class="row"><span class="k">expires</span> <span data-testid="token-expiry">${expiry}</span></div>` +
      `<div class="row"><span class="k">vault</span> <code data-testid="vault-value">${esc(t.vault === null ? "(missing)" : t.vault)}</code></div>` +
      `<div class="companions">${companions}</div>` + breakControls(t.name, data.world) + `</div>`;
  }).join("");
  $("tickets").innerHTML = data.world.tickets.length ? data.world.tickets.map((t) =>
    `<div class="ticket" data-testid="ticket"><a href="${esc(t.url)}" target="_blank" rel="noopener" data-testid="ticket-link">#${esc(t.number)} ${esc(t.subject)}</a>` +
    `<div class="hint">${esc(t.status)} · ${esc(t.created_at)}${t.tags.length ? " · " + esc(t.tags.join(", ")) : ""}</div></div>`).join("")
    : `<div class="hint">No tickets yet: revoke a token to open one.</div>`;
}

function breakControls(name, world) {
  if (!world.breaks || !(world.breakable || []).includes(name)) return "";
  const chosen = state.breakChoice[name] || "";
  const options = [...Object.entries(world.breaks), ["repair", "repair it (as seeded)"]].map(([how, what]) =>
    `<option value="${esc(how)}"${how === chosen ? " selected" : ""}>${esc(what)}</option>`).join("");
  return `<div class="row break"><select data-testid="break-how" data-name="${esc(name)}">${options}` +
    `</select> ` +
    `<button type="button" class="break-go" data-testid="break-go" data-name="${esc(name)}">Break</button></div>`;
}

function renderPeople(data) {
  const picker = $("person-picker");
  if (!picker.options.length) {
    picker.innerHTML = data.people.map((p) =>
      `<option value="${esc(p.id)}">${esc(p.real_name)}${p.approver ? " (approver)" : " (not an approver)"}</option>`).join("");
  }
  picker.value = state.viewer;
  $("viewer-hint").textContent = `as ${nameOf(state.viewer)}: ephemeral messages for them are shown`;
}

async function refresh() {
  const asked = state.viewer;
  try {
    const response = await fetch(`/sandbox/state?viewer=${encodeURIComponent(asked)}`, { cache: "no-store" });
    const text = await response.text();
    if (!response.ok) throw new Error(text);
    if (state.offline) { state.offline = false; $("composer-status").textContent = ""; }
    if (state.viewer !== asked || text === state.last) return; // stale (the person changed meanwhile) or unchanged
    state.last = text;
    state.data = JSON.parse(text);
    state.viewer = state.data.viewer; // the server picks the first person when none (or a stranger) is asked for
    renderPeople(state.data);
    renderMessages(state.data);
    renderRefusals(state.data);
    renderView(state.data);
    renderWorld(state.data);
    document.body.dataset.viewer = state.viewer;
    document.body.dataset.loaded = "true";
  } catch (error) {
    state.offline = true;
    $("composer-status").textContent = "The sandbox is not answering (stopped?)";
  }
}

async function post(path, payload) {
  const token = document.querySelector('meta[name="sandbox-token"]').content; // this run's, checked on every POST
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json", "X-Sandbox-Token": token }, body: JSON.stringify(payload),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function askConfirm(confirm) {
  return new Promise((resolve) => {
    $("modal-title").innerHTML = textObject(confirm.title);
    $("modal-text").innerHTML = textObject(confirm.text);
    $("modal-confirm").innerHTML = textObject(confirm.confirm || { type: "plain_text", text: "Yes" });
    $("modal-deny").innerHTML = textObject(confirm.deny || { type: "plain_text", text: "Cancel" });
    $("modal-confirm").className = confirm.style === "danger" ? "danger" : "primary";
    $("modal").hidden = false;
    const done = (answer) => { $("modal").hidden = true; $("modal-confirm").onclick = $("modal-deny").onclick = null; resolve(answer); };
    $("modal-confirm").onclick = () => done(true);
    $("modal-deny").onclick = () => done(false);
  });
}

async function click(target) {
  const d = target.dataset;
  if (d.confirm && !(await askConfirm(JSON.parse(d.confirm)))) return;
  try {
    await post("/sandbox/action", { user: state.viewer, action_id: d.actionId, value: d.value, message_ts: d.ts, block_id: d.blockId });
    $("composer-status").textContent = `${nameOf(state.viewer)} clicked “${target.textContent}”`;
  } catch (error) {
    $("composer-status").textContent = `Click failed: ${error.message}`;
  }
  setTimeout(refresh, 150);
}

async function send(text) {
  if (!text.trim()) return;
  try {
    await post("/sandbox/command", { user: state.viewer, text });
    $("composer-status").textContent = `${nameOf(state.viewer)} ran ${text.trim().startsWith("/") ? text.trim() : "/cftoken " + text.trim()}`;
    $("composer-input").value = "";
  } catch (error) {
    $("composer-status").textContent = error.message;
  }
  setTimeout(refresh, 150);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("person-picker").addEventListener("change", (event) => {
    state.viewer = event.target.value;
    localStorage.setItem("cftoken-sandbox-viewer", state.viewer);
    state.last = "";
    refresh();
  });
  $("messages").addEventListener("click", (event) => {
    const target = event.target.closest("button.bk-button");
    if (target) click(target);
  });
  $("messages").addEventListener("toggle", (event) => { // keep "earlier versions" open across re-renders
    const ts = event.target.dataset.ts;
    if (event.target.open) state.open.add(ts); else state.open.delete(ts);
  }, true);
  $("view-submit").addEventListener("click", () => submitView(false));
  $("view-close").addEventListener("click", () => submitView(true));
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); send($("composer-input").value); });
  document.querySelectorAll(".chip").forEach((chip) => chip.addEventListener("click", () => {
    $("composer-input").value = chip.textContent;
    $("composer-input").focus();
  }));
  $("tokens").addEventListener("change", (event) => { // keep the choice across the panel's re-renders
    if (event.target.dataset.testid === "break-how") state.breakChoice[event.target.dataset.name] = event.target.value;
  });
  $("tokens").addEventListener("click", async (event) => { // the world panel: break a token, watch the bot notice
    const button = event.target.closest(".break-go");
    if (!button) return;
    const how = document.querySelector(`select[data-testid="break-how"][data-name="${button.dataset.name}"]`).value;
    try {
      const answer = await post("/sandbox/break", { name: button.dataset.name, how });
      $("composer-status").textContent = answer.done;
    } catch (error) {
      $("composer-status").textContent = `Break failed: ${error.message}`;
    }
    setTimeout(refresh, 150);
  });
  $("ff-go").addEventListener("click", async () => {
    try {
      const answer = await post("/sandbox/fast-forward", { days: Number($("ff-days").value) });
      $("composer-status").textContent = `Fast-forwarded: ${answer.offset_days} days ahead in all; an expiry scan is queued`;
    } catch (error) {
      $("composer-status").textContent = `Fast-forward failed: ${error.message}`;
    }
    setTimeout(refresh, 150);
  });
  await refresh();
  setInterval(refresh, 1000);
});
