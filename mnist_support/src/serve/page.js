const $ = id => document.getElementById(id);
const pad = $('pad');
const ctx = pad.getContext('2d', {willReadFrequently: true});
const status = $('status');
const select = $('model');
const results = $('results');
const sourceBox = $('source'), sourceText = $('source-text'), sourceThumb = $('source-thumb');
const consensus = $('consensus');
const MAX_SEND = 1400000;   // data URL length sent as is (the server takes bodies up to 2 MB)
const MAX_SIDE = 1000;      // larger pictures are scaled down to this side before sending
const DEBOUNCE_MS = 250;

let models = {};            // name -> model info from /api/models
let lastInput = null;       // {kind, key, label, image}: what the model selector re-predicts
let seq = 0;                // number of the newest request; older answers are dropped
let inflight = null;        // {key, seq} of the request in flight
let shownKey = null;        // key of the answer on screen
let timer = null;           // pending automatic prediction
let padVersion = 0, fileCount = 0;
let whySeq = 0;             // number of the newest explanation asked for
let demoWhy = new URLSearchParams(location.search).get('why');   // `?why=knn`: explain the first answer

// ---------- drawing pad: strokes, undo, eraser ----------
const strokes = [];         // {erase, width, pts}, {clear: true} or {img} (a pad example)
let cur = null, curId = null;
let erasing = false;

function setStatus(text) { status.textContent = text || ''; }
function brushWidth() { return Number($('brush').value) || 20; }

function paintDot(s, p) {
  ctx.fillStyle = s.erase ? '#fff' : '#000';
  ctx.beginPath(); ctx.arc(p[0], p[1], s.width / 2, 0, 2 * Math.PI); ctx.fill();
}
function paintSeg(s, a, b) {
  ctx.strokeStyle = s.erase ? '#fff' : '#000'; ctx.lineWidth = s.width; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
  ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
}
function blank() { ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, pad.width, pad.height); }
function redraw() {
  blank();
  let start = 0;
  strokes.forEach((s, i) => { if (s.clear) start = i + 1; });
  for (const s of strokes.slice(start)) {
    if (s.img) { ctx.drawImage(s.img, 0, 0, pad.width, pad.height); continue; }
    paintDot(s, s.pts[0]);
    for (let i = 1; i < s.pts.length; i++) paintSeg(s, s.pts[i - 1], s.pts[i]);
  }
}
function padEmpty() {
  const d = ctx.getImageData(0, 0, pad.width, pad.height).data;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 250) return false;
  return true;
}
function updateTools() {
  const empty = padEmpty();
  $('pad-hint').hidden = !empty || cur !== null;
  $('undo').disabled = strokes.length === 0;
  return empty;
}
blank();
updateTools();

function point(e) {
  const r = pad.getBoundingClientRect();
  const w = pad.clientWidth || r.width, h = pad.clientHeight || r.height;
  return [(e.clientX - r.left - pad.clientLeft) * pad.width / w, (e.clientY - r.top - pad.clientTop) * pad.height / h];
}
pad.addEventListener('pointerdown', e => {
  if (cur || (e.pointerType === 'mouse' && e.button !== 0)) return;
  e.preventDefault();
  cancelAuto();
  curId = e.pointerId;
  try { pad.setPointerCapture(e.pointerId); } catch (_) {}
  cur = {erase: erasing, width: brushWidth(), pts: [point(e)]};
  strokes.push(cur);
  paintDot(cur, cur.pts[0]);
  $('pad-hint').hidden = true;
});
pad.addEventListener('pointermove', e => {
  if (!cur || e.pointerId !== curId) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
  for (const ev of (events.length ? events : [e])) {
    const p = point(ev), q = cur.pts[cur.pts.length - 1];
    if (p[0] === q[0] && p[1] === q[1]) continue;
    paintSeg(cur, q, p);
    cur.pts.push(p);
  }
});
function endStroke(e) {
  if (!cur || e.pointerId !== curId) return;
  cur = null; curId = null;
  padVersion++;
  const empty = updateTools();
  if (empty) { if (!lastInput || lastInput.kind === 'draw') clearAnswer(); return; }
  scheduleAuto();
}
['pointerup', 'pointercancel', 'lostpointercapture'].forEach(t => pad.addEventListener(t, endStroke));
window.addEventListener('pointerup', endStroke);   // in case the pointer could not be captured

function undo() {
  if (cur || strokes.length === 0) return;
  strokes.pop();
  redraw();
  padVersion++;
  const empty = updateTools();
  if (empty) { if (!lastInput || lastInput.kind === 'draw') clearAnswer(); setStatus(''); }
  else predictDrawing();
}
$('undo').addEventListener('click', undo);
document.addEventListener('keydown', e => {
  if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'z') {
    if (e.target.matches && e.target.matches('input[type=text], textarea, [contenteditable]')) return;
    e.preventDefault();
    undo();
  }
});
$('clear').addEventListener('click', () => {
  if (cur) return;
  if (strokes.length && !strokes[strokes.length - 1].clear && !padEmpty()) strokes.push({clear: true});
  redraw();
  padVersion++;
  updateTools();
  seq++; fileCount++; inflight = null; cancelAuto();
  lastInput = null;
  setStatus('');
  clearAnswer();
});
$('eraser').addEventListener('click', () => {
  erasing = !erasing;
  $('eraser').setAttribute('aria-pressed', String(erasing));
  pad.classList.toggle('erasing', erasing);
});
$('brush').addEventListener('input', () => { $('brush-size').textContent = $('brush').value; });

// ---------- predictions ----------
function cancelAuto() { if (timer) { clearTimeout(timer); timer = null; } }
function scheduleAuto() { cancelAuto(); timer = setTimeout(() => { timer = null; predictDrawing(); }, DEBOUNCE_MS); }
function drawingInput() {
  return {kind: 'draw', key: 'pad:' + padVersion, label: 'your drawing', image: pad.toDataURL('image/png')};
}
function predictDrawing() {
  if (padEmpty()) return false;
  predictInput(drawingInput());
  return true;
}

function setSource(prefix, input, busy) {
  sourceText.textContent = prefix + input.label;
  sourceThumb.src = input.image;
  sourceThumb.alt = input.label;
  sourceThumb.hidden = false;
  sourceBox.classList.toggle('busy', !!busy);
}
function setBusy(on) { for (const e of [results, consensus, $('seen')]) e.classList.toggle('busy', on); }
function hideWhy() { $('why').hidden = true; whySeq++; }
function clearAnswer() {
  shownKey = null;
  hideWhy();
  results.innerHTML = '';
  setBusy(false);
  consensus.textContent = '';
  $('not-digit').hidden = true;
  sourceText.textContent = 'No answer yet: draw a digit, or upload, drop or paste a picture.';
  sourceThumb.hidden = true;
  sourceThumb.removeAttribute('src');
  sourceBox.classList.remove('busy');
  const s = $('seen').getContext('2d');
  s.fillStyle = '#fff'; s.fillRect(0, 0, 112, 112);
  markExample(null);
}

async function predictInput(input) {
  cancelAuto();
  lastInput = input;
  const model = select.value;
  const key = input.key + '|' + model;
  if (inflight && inflight.key === key) return;        // the same request is on its way
  const my = ++seq;
  inflight = {key, seq: my};
  setStatus('');
  setSource('Predicting… ', input, true);
  setBusy(true);
  markExample(input.kind === 'example' ? input.name : null);
  let res, data = null, text = '';
  try {
    res = await fetch('/api/predict', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({model, image: input.image})});
    text = await res.text();
    try { data = JSON.parse(text); } catch (_) {}
  } catch (e) {
    if (my !== seq) return;
    inflight = null;
    failed(input, 'request failed: ' + e);
    return;
  }
  if (my !== seq) return;                               // a newer request was started: drop this answer
  inflight = null;
  if (!res.ok || !data || !Array.isArray(data.results)) {
    let msg = data && data.error;
    if (!msg && res.status === 413) msg = 'The picture is too large for the server (2 MB at most).';
    if (!msg) msg = `${res.status} ${res.statusText}${text ? ': ' + text.slice(0, 200) : ''}`;
    failed(input, msg);
    return;
  }
  setBusy(false);
  setSource('Answer for: ', input, false);
  if (Array.isArray(data.input) && data.input.length === 784) showSeen(data.input);
  hideWhy();
  showResults(data.results);
  $('not-digit').hidden = data.digit_like !== false;
  window.lastAnswer = data;                            // for the browser test
  shownKey = key;
  if (demoWhy) { const m = demoWhy; demoWhy = null; explain(m); }
}
function failed(input, msg) {
  clearAnswer();
  setSource('No answer for: ', input, false);
  markExample(input.kind === 'example' ? input.name : null);
  setStatus(msg);
}

function showSeen(pixels) {
  const seen = $('seen').getContext('2d');
  const img = seen.createImageData(28, 28);
  pixels.forEach((v, i) => { img.data.set([255 - v, 255 - v, 255 - v, 255], 4 * i); });
  const tmp = document.createElement('canvas'); tmp.width = 28; tmp.height = 28;
  tmp.getContext('2d').putImageData(img, 0, 0);
  seen.imageSmoothingEnabled = false;
  seen.drawImage(tmp, 0, 0, 112, 112);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function pct(p) { return (100 * p).toFixed(1) + '%'; }

function showResults(list) {
  results.innerHTML = '';
  consensus.textContent = '';
  const counts = new Map();
  for (const r of list) counts.set(r.prediction, (counts.get(r.prediction) || 0) + 1);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const n = list.length;
  const top = ranked.length && (ranked.length === 1 || ranked[0][1] > ranked[1][1]) ? ranked[0][0] : null;
  if (n === 1) {
    consensus.append(el('span', '', `${list[0].model} says `), el('span', 'big', String(list[0].prediction)));
  } else if (n > 1 && top !== null) {
    const c = counts.get(top);
    consensus.append(el('span', '', c === n ? `All ${n} models say ` : `${c} of ${n} models say `), el('span', 'big', String(top)));
    if (c < n) consensus.append(el('span', 'others', '  (others: ' + ranked.slice(1).map(([d, k]) => `${d} ×${k}`).join(', ') + ')'));
  } else if (n > 1) {
    consensus.append(el('span', '', 'The models disagree: ' + ranked.map(([d, k]) => `${d} ×${k}`).join(', ')));
  }
  for (const r of list) {
    const card = el('div', 'card');
    card.dataset.model = r.model;
    if (n > 1 && top !== null) card.classList.add(r.prediction === top ? 'agree' : 'disagree');
    const h = el('h3', '', (r.kind || r.model) + ' ');
    h.append(el('small', '', `(${r.model})`));
    card.append(h, el('div', 'digit', String(r.prediction)));
    (r.top3 || []).forEach((t, i) => {
      const p = Math.max(0, Math.min(1, Number(t.probability) || 0));
      const bar = el('div', i === 0 ? 'bar top' : 'bar');
      bar.dataset.digit = t.digit;
      const track = el('span', 'track'), fill = el('span', 'fill');
      fill.style.width = (100 * p).toFixed(1) + '%';
      track.append(fill);
      bar.append(el('span', 'd', String(t.digit)), track, el('span', 'prob', pct(p)));
      card.append(bar);
    });
    card.append(el('div', 'ms', `${Number(r.ms || 0).toFixed(1)} ms`));
    const why = el('button', 'why-button', 'Why?');
    why.type = 'button';
    why.title = `Why did ${r.model} say ${r.prediction}?`;
    why.addEventListener('click', () => explain(r.model));
    card.append(why);
    const m = models[r.model];
    if (m && typeof m.test_accuracy === 'number') card.append(el('div', 'acc', `test accuracy ${pct(m.test_accuracy)}`));
    results.append(card);
  }
}

$('predict').addEventListener('click', () => {
  cancelAuto();
  if (cur) return;
  if (padEmpty()) { setStatus('Draw a digit first.'); return; }
  const input = drawingInput();
  const key = input.key + '|' + select.value;
  if (!inflight && shownKey === key && results.querySelector('.card')) {
    // this drawing's answer is already on screen
    lastInput = input;
    results.classList.remove('flash'); void results.offsetWidth; results.classList.add('flash');
    return;
  }
  predictInput(input);
});
select.addEventListener('change', () => {
  if (!lastInput) return;
  if (lastInput.kind === 'draw') predictDrawing();
  else predictInput(lastInput);
});

// ---------- why: one model's explanation of the picture on screen ----------
const whyBox = $('why');

// A 28×28 picture (784 values 0–255, ink high) on a 112×112 canvas, with
// optional heat (784 values, any sign): red where positive, blue where negative.
function digitCanvas(pixels, heat, caption) {
  const box = el('figure', 'why-pic');
  const c = el('canvas');
  c.width = 112; c.height = 112;
  const top = heat ? heat.reduce((m, v) => Math.max(m, Math.abs(v)), 0) : 0;
  const img = new ImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const g = 255 - (pixels ? pixels[i] : 0);
    let rgb = [g, g, g];
    const h = top > 0 ? heat[i] / top : 0;
    if (h !== 0) {
      const a = Math.min(1, Math.abs(h)) * 0.9, t = h > 0 ? [214, 39, 40] : [31, 90, 200];
      rgb = rgb.map((v, k) => Math.round(v * (1 - a) + t[k] * a));
    }
    img.data.set([...rgb, 255], 4 * i);
  }
  const tmp = el('canvas'); tmp.width = 28; tmp.height = 28;
  tmp.getContext('2d').putImageData(img, 0, 0);
  const g = c.getContext('2d');
  g.imageSmoothingEnabled = false;
  g.drawImage(tmp, 0, 0, 112, 112);
  box.append(c, el('figcaption', '', caption));
  return box;
}

// The map of the training digits (GET /api/map), fetched once when first needed.
const DIGIT_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
let mapPoints = null;
function digitMap() {
  if (!mapPoints) mapPoints = fetch('/api/map').then(r => r.ok ? r.json() : null).catch(() => null);
  return mapPoints;
}

// The picture's place (a black cross) among the training digits (dots
// coloured by digit, each digit's label at its dots' centre), on a 224×224 canvas.
function mapCanvas(place) {
  const box = el('figure', 'why-pic why-map');
  const c = el('canvas');
  c.width = 224; c.height = 224;
  box.append(c, el('figcaption', '', 'where it sits among the training digits'));
  digitMap().then(map => {
    if (!map || !Array.isArray(map.points) || !map.points.length) { box.remove(); return; }
    const xs = map.points.map(p => p.x).concat(place.x), ys = map.points.map(p => p.y).concat(place.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const sx = v => 10 + 204 * (v - x0) / ((x1 - x0) || 1), sy = v => 214 - 204 * (v - y0) / ((y1 - y0) || 1);
    const g = c.getContext('2d');
    g.globalAlpha = 0.5;
    for (const p of map.points) {
      g.fillStyle = DIGIT_COLOURS[p.digit % 10];
      g.fillRect(sx(p.x) - 1.5, sy(p.y) - 1.5, 3, 3);
    }
    g.globalAlpha = 1;
    g.font = 'bold 15px sans-serif'; g.textAlign = 'center'; g.textBaseline = 'middle';
    for (let d = 0; d < 10; d++) {
      const own = map.points.filter(p => p.digit === d);
      if (!own.length) continue;
      g.fillStyle = DIGIT_COLOURS[d];
      g.fillText(String(d), sx(own.reduce((a, p) => a + p.x, 0) / own.length), sy(own.reduce((a, p) => a + p.y, 0) / own.length));
    }
    const [px, py] = [sx(place.x), sy(place.y)];
    g.strokeStyle = '#000'; g.lineWidth = 3;
    g.beginPath(); g.moveTo(px - 7, py - 7); g.lineTo(px + 7, py + 7); g.moveTo(px + 7, py - 7); g.lineTo(px - 7, py + 7); g.stroke();
    box.dataset.drawn = String(map.points.length);      // for the browser test
  });
  return box;
}

// The model's own reasons: [caption, pixels, heat] for each picture, and a sentence.
function reasons(e) {
  const w = e.why || {}, input = e.input, pics = [];
  let text = '';
  if (w.model === 'softmax') {
    for (const c of w.classes) {
      pics.push([`weights of ${c.digit}`, null, c.template]);
      pics.push([`${c.digit}: logit ${w.logits[c.digit].toFixed(1)}`, null, c.contributions]);
    }
    text = 'Each logit is the sum of the pixels\' contributions (weight × scaled pixel) and a bias: the answer\'s and the runner-up\'s.';
  } else if (w.model === 'knn') {
    for (const n of w.neighbours) pics.push([`a ${n.label}, distance ${n.distance.toFixed(2)}`, n.picture, null]);
    text = `Its ${w.neighbours.length} nearest training digits vote.`;
  } else if (w.model === 'svm') {
    for (const p of w.pulls) pics.push([`pulls to ${p.toward} by ${p.pull.toFixed(2)}`, p.picture, null]);
    text = `${w.pair[0]} wins ${w.votes[w.pair[0]]} of 45 pairwise machines; these support vectors pulled hardest in the machine between ${w.pair[0]} and ${w.pair[1]}.`;
  } else if (w.model === 'tree') {
    const marks = new Array(784).fill(0);
    for (const t of w.path) marks[t.pixel] = t.left ? -1 : 1;
    pics.push([`${w.path.length} pixel tests`, input, marks]);
    text = `Its path from the root to a leaf: red where it found ink above its threshold, blue where it found none; ${(100 * Math.max(...w.leaf)).toFixed(0)}% of the leaf's training digits are ${e.answer}.`;
  } else if (w.model === 'forest') {
    pics.push(['pixels tested', input, w.tested]);
    text = `${w.votes[e.answer]} of ${w.votes.reduce((a, b) => a + b, 0)} trees favour ${e.answer}; the pixels its trees tested on this digit's paths.`;
  } else if (w.model === 'network') {
    text = `A network's reasons are spread over its weights: its saliency is the integrated gradients of the answer's logit, from a blank picture (${w.blank_logit.toFixed(1)}) to this one (${w.logit.toFixed(1)}), pixel by pixel.`;
  } else {
    text = 'The saliency shows the ink its answer rests on.';
  }
  return {pics, text};
}

function showWhy(e) {
  $('why-title').textContent = `Why ${e.model} says ${e.answer}`;
  const {pics, text} = reasons(e);
  const how = {
    network: 'the evidence each pixel gives for the answer',
    knn: 'how much blanking a pixel narrows the answer\'s lead over the other digits (their mean distance less its own)',
  }[(e.why || {}).model] || 'how much the probability of the answer falls when a pixel is blanked';
  $('why-text').textContent = `Saliency: ${how} (red: the answer rests on that ink, blue: the ink speaks against it). ` + text;
  const box = $('why-pictures');
  box.innerHTML = '';
  box.append(digitCanvas(e.input, null, `says ${e.answer} (p = ${pct(e.probabilities[e.answer])})`));
  box.append(digitCanvas(e.input, e.saliency, 'saliency'));
  for (const [caption, pixels, heat] of pics) box.append(digitCanvas(pixels, heat, caption));
  if (e.map) box.append(mapCanvas(e.map));
  whyBox.hidden = false;
  window.lastExplanation = e;                         // for the browser test
}

async function explain(model) {
  const seen = window.lastAnswer && window.lastAnswer.input;
  if (!Array.isArray(seen) || seen.length !== 784) return;
  const my = ++whySeq;
  $('why-title').textContent = `Why ${model}…`;
  $('why-text').textContent = '';
  $('why-pictures').innerHTML = '';
  whyBox.hidden = false;
  let data = null, res;
  try {
    res = await fetch('/api/explain', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({model, pixels: seen})});
    data = await res.json();
  } catch (err) {
    if (my === whySeq) $('why-text').textContent = 'The explanation failed: ' + err;
    return;
  }
  if (my !== whySeq) return;
  if (!res.ok || !data || !Array.isArray(data.saliency)) {
    $('why-text').textContent = (data && data.error) || `The explanation failed (${res.status}).`;
    return;
  }
  showWhy(data);
}

// ---------- pictures: upload, camera, drop, paste, examples ----------
function loadImage(url) {
  return new Promise((ok, fail) => { const im = new Image(); im.onload = () => ok(im); im.onerror = fail; im.src = url; });
}
function readFile(file) {
  return new Promise((ok, fail) => {
    const r = new FileReader(); r.onload = () => ok(r.result); r.onerror = () => fail(r.error); r.readAsDataURL(file);
  });
}
// PNG and JPEG pictures of a sensible size go as they are; other formats the browser can read
// (WebP, GIF, BMP, ...) and big photos are redrawn (scaled down, EXIF rotation applied) first.
async function prepare(url) {
  const plain = /^data:image\/(png|jpeg|jpg)[;,]/i.test(url);
  let im;
  try { im = await loadImage(url); } catch (_) { return url; }   // let the server say what is wrong
  const w = im.naturalWidth, h = im.naturalHeight;
  if (!w || !h) return url;
  if (plain && url.length <= MAX_SEND && Math.max(w, h) <= 2 * MAX_SIDE) return url;
  const scale = Math.min(1, MAX_SIDE / Math.max(w, h));
  const c = document.createElement('canvas');
  c.width = Math.max(1, Math.round(w * scale)); c.height = Math.max(1, Math.round(h * scale));
  const g = c.getContext('2d');
  g.fillStyle = '#fff'; g.fillRect(0, 0, c.width, c.height);
  g.drawImage(im, 0, 0, c.width, c.height);
  let out = c.toDataURL('image/png');
  if (out.length > MAX_SEND) out = c.toDataURL('image/jpeg', 0.92);
  return out;
}
async function predictFile(file, label) {
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) { setStatus(`Not a picture: ${file.name || 'the file'} (${file.type}).`); return; }
  if (file.size > 40e6) { setStatus(`The picture is too large (${(file.size / 1e6).toFixed(0)} MB).`); return; }
  const my = ++fileCount;
  cancelAuto();
  setStatus('');
  try {
    const image = await prepare(await readFile(file));
    if (my !== fileCount) return;     // another picture came in meanwhile
    predictInput({kind: 'file', key: 'file:' + my, label, image});
  } catch (e) { setStatus('Could not read the file: ' + e); }
}
function predictDataUrl(url, label) {
  const my = ++fileCount;
  prepare(url).then(image => { if (my === fileCount) predictInput({kind: 'file', key: 'file:' + my, label, image}); });
}
$('upload').addEventListener('change', e => {
  const f = e.target.files[0];
  if (f) predictFile(f, 'upload ' + f.name);
});
$('camera').addEventListener('change', e => {
  const f = e.target.files[0];
  if (f) predictFile(f, 'camera photo');
  e.target.value = '';
});

// drag and drop anywhere on the page; the pad shows where
const padbox = $('padbox');
let dragDepth = 0;
const hasFiles = e => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
document.addEventListener('dragenter', e => { if (hasFiles(e)) { dragDepth++; padbox.classList.add('drop'); e.preventDefault(); } });
document.addEventListener('dragleave', () => { if (dragDepth > 0 && --dragDepth === 0) padbox.classList.remove('drop'); });
document.addEventListener('dragover', e => { if (hasFiles(e) || e.dataTransfer) e.preventDefault(); });
document.addEventListener('drop', e => {
  e.preventDefault();
  dragDepth = 0; padbox.classList.remove('drop');
  const dt = e.dataTransfer;
  const f = dt && [...dt.files].find(f => !f.type || f.type.startsWith('image/'));
  if (f) { predictFile(f, 'dropped ' + (f.name || 'picture')); return; }
  if (dt && dt.files.length) { predictFile(dt.files[0], 'dropped ' + dt.files[0].name); return; }
  const url = dt && (dt.getData('text/uri-list') || dt.getData('text/plain') || '').trim();
  if (url && url.startsWith('data:image/')) { predictDataUrl(url, 'dropped picture'); return; }
  setStatus('Drop a picture file (a picture from another web page: save it first, then drop or upload it).');
});

// paste an image from the clipboard
document.addEventListener('paste', e => {
  const cd = e.clipboardData;
  if (!cd) return;
  const item = [...cd.items].find(i => i.kind === 'file' && i.type.startsWith('image/'));
  if (item) { e.preventDefault(); predictFile(item.getAsFile(), 'pasted image'); return; }
  const text = (cd.getData('text/plain') || '').trim();
  if (text.startsWith('data:image/')) { e.preventDefault(); predictDataUrl(text, 'pasted image'); return; }
  if (!(e.target.matches && e.target.matches('input, textarea, [contenteditable]'))) setStatus('The clipboard holds no picture.');
});

// example inputs
function markExample(name) {
  for (const b of $('examples').children) b.setAttribute('aria-current', String(name !== null && b.dataset.name === name));
}
fetch('/api/examples').then(r => r.ok ? r.json() : null).then(d => {
  const list = d && Array.isArray(d.examples) ? d.examples.filter(x => x && x.image) : [];
  if (!list.length) return;
  const box = $('examples');
  for (const x of list) {
    const b = el('button');
    b.type = 'button';
    b.dataset.name = x.name;
    b.title = x.name + (x.label !== undefined && x.label !== null ? ` (a ${x.label})` : '');
    const img = el('img');
    img.src = x.image; img.alt = x.name;
    b.append(img);
    b.addEventListener('click', () => {
      if (x.source !== 'pad') {
        predictInput({kind: 'example', key: 'example:' + x.name, name: x.name, label: 'example: ' + x.name, image: x.image});
        return;
      }
      // A pad drawing goes onto the pad, to be predicted, undone or drawn over.
      loadImage(x.image).then(img => {
        if (cur) return;
        if (strokes.length && !strokes[strokes.length - 1].clear && !padEmpty()) strokes.push({clear: true});
        strokes.push({img});
        redraw();
        padVersion++;
        updateTools();
        markExample(x.name);
        predictDrawing();
      }).catch(() => setStatus('Could not load the example.'));
    });
    box.append(b);
  }
  $('examples-row').hidden = false;
  // `?demo=pad` (or scan, photo, typed): show the first example of that kind answered.
  const demo = new URLSearchParams(location.search).get('demo');
  const first = demo && [...box.children].find((b, i) => list[i].source === demo);
  if (first) first.click();
}).catch(() => {});

// models
fetch('/api/models').then(r => r.json()).then(d => {
  for (const m of d.models) {
    models[m.name] = m;
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = `${m.title} (${m.name})`;
    select.appendChild(o);
  }
  if (d.models.length === 0) setStatus('No saved models: train some first (cargo run --release -- train).');
}).catch(e => setStatus('Could not load the list of models: ' + e));
