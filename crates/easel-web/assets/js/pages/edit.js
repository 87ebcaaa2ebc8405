// Edit: load an image (a file, or one from history), paint and erase a mask with a
// brush of any size, undo, then inpaint (replace the painted area) or outpaint (extend
// the picture in a direction by an extent), with a prompt; a before/after view shows
// the result. Images are sent at most 1408 px on the long side, as the API requires.
// A photo the browser cannot draw (an iPhone's HEIC) is uploaded and Easel renders a
// PNG of it to paint on.

import { api, uploadTo } from "../api.js";
import { announce, besideLabel, field, h, newId, select, statusLine } from "../dom.js";
import { ApiError, clearErrors, formError, showError } from "../errors.js";
import { MAX_INPUT_SIDE, canvasToBase64, fitOnCanvas, imageFromBlob, loadImage, makeCanvas } from "../images.js";
import { MaskPainter } from "../mask.js";
import { followJob } from "../jobs.js";
import { engineOptions, generationField, imageLinks, loadEngines, runGeneration } from "./generate.js";

/** Types a browser may not draw, by extension: Easel renders them. */
const SERVER_RENDERED = { heic: "image/heic", heif: "image/heif", avif: "image/avif" };

/** The type to upload `file` as when the browser cannot draw it; null if Easel cannot either. */
function serverRenderedType(file, label) {
  if (Object.values(SERVER_RENDERED).includes(file.type)) return file.type;
  return SERVER_RENDERED[(label.split(".").pop() || "").toLowerCase()] || null;
}

/**
 * Uploads `file` and has Easel render it as a PNG at most `side` px on the long side;
 * resolves with the PNG's download URL.
 */
async function renderOnServer(file, label, type, side, signal) {
  const upload = await api("POST", "/v1/uploads", { body: { filename: label, contentType: type, size: file.size }, signal });
  await uploadTo(upload, file, () => {}, signal);
  await api("POST", "/v1/uploads/complete", { body: { bucket: upload.bucket, key: upload.key }, signal });
  const job = await api("POST", "/v1/jobs", {
    body: {
      sources: [{ bucket: upload.bucket, key: upload.key }],
      pipeline: { ops: [{ op: "resize", width: side, height: side, mode: "fit" }], output: { format: "png" } },
      metadata: { from: "web", purpose: "edit-preview" },
    },
    signal,
  });
  const final = await followJob(job.jobId, () => {}, signal);
  const output = final.results?.[0]?.output;
  if (final.status !== "COMPLETED" || !output) {
    throw new ApiError(422, "preview-failed", final.error || final.results?.[0]?.error?.message || "Easel could not read this image");
  }
  return output.downloadUrl;
}

const DIRECTIONS = [
  ["all", "All sides"],
  ["left", "Left"],
  ["right", "Right"],
  ["top", "Top"],
  ["bottom", "Bottom"],
];

/** `#/edit` */
export function render(main, { signal, params }) {
  const toolsState = { hasImage: false };
  const painter = new MaskPainter({
    label: "Image with the mask. Paint with the pointer, or focus here and use the arrow keys to move the brush and Space to put it down or lift it.",
    onChange: () => updateTools(),
  });

  // 1. The image.
  const fileInput = h("input", {
    type: "file",
    accept: "image/png,image/jpeg,image/webp,image/gif,image/heic,image/heif,image/avif,.heic,.heif,.avif",
    class: "visually-hidden",
    tabindex: "-1",
    "data-testid": "edit-file",
  });
  const chooseFile = h("button", { type: "button" }, "Choose a file");
  const fromHistory = h("button", { type: "button" }, "Pick from history");
  const imageInfo = h("p", { class: "muted small", "aria-live": "polite" });
  const imageError = h("p", { class: "field-error", id: "image-error", hidden: true });
  const placeholder = h("div", { class: "dropzone stage-placeholder" }, h("p", {}, "Drop an image here, choose a file, or pick one from your history."));
  chooseFile.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    if (fileInput.files[0]) loadFromBlob(fileInput.files[0], fileInput.files[0].name);
    fileInput.value = "";
  });
  fromHistory.addEventListener("click", () => pickFromHistory());
  const stageBox = h("div", { class: "stage-box" }, placeholder, painter.element);
  for (const type of ["dragenter", "dragover"]) {
    stageBox.addEventListener(type, (event) => {
      event.preventDefault();
      stageBox.classList.add("over");
    });
  }
  stageBox.addEventListener("dragleave", () => stageBox.classList.remove("over"));
  stageBox.addEventListener("drop", (event) => {
    event.preventDefault();
    stageBox.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) loadFromBlob(file, file.name);
  });

  // 2. The brush.
  const brush = h("input", { type: "radio", name: "tool", value: "paint", checked: true, id: newId("tool") });
  const eraser = h("input", { type: "radio", name: "tool", value: "erase", id: newId("tool") });
  for (const radio of [brush, eraser]) radio.addEventListener("change", () => painter.setTool(brush.checked ? "paint" : "erase"));
  const size = h("input", { type: "range", min: 4, max: 200, step: 2, value: 40 });
  const sizeValue = h("output", {}, "40 px");
  size.addEventListener("input", () => {
    painter.setSize(Number(size.value));
    sizeValue.textContent = `${size.value} px`;
  });
  const undo = h("button", { type: "button", disabled: true, "aria-keyshortcuts": "Control+Z" }, "Undo");
  undo.addEventListener("click", () => painter.undo());
  const clearMask = h("button", { type: "button", class: "ghost", disabled: true }, "Clear mask");
  clearMask.addEventListener("click", () => painter.clearMask());
  const sizeField = field("Brush size", size, { name: "brush-size", hint: "Keys [ and ] change it too." });
  besideLabel(sizeField, sizeValue);
  const tools = h(
    "fieldset",
    { class: "tools", disabled: true },
    h("legend", {}, "Mask"),
    h("div", { class: "row wrap" }, h("div", { class: "check" }, brush, h("label", { for: brush.id }, "Brush")), h("div", { class: "check" }, eraser, h("label", { for: eraser.id }, "Eraser")), undo, clearMask),
    sizeField,
    h("p", { class: "field-error", id: "mask-error", hidden: true }),
  );

  // 3. What to do.
  const inpaint = h("input", { type: "radio", name: "mode", value: "inpaint", checked: true, id: newId("mode") });
  const outpaint = h("input", { type: "radio", name: "mode", value: "outpaint", id: newId("mode") });
  const direction = select(DIRECTIONS, { name: "direction" });
  const extent = h("input", { type: "number", min: 5, max: 100, step: 5, value: 25, inputmode: "numeric" });
  const precise = select([["DEFAULT", "Blend with the original"], ["PRECISE", "Keep the original exactly"]], {});
  const outpaintBox = h(
    "div",
    { class: "row wrap", hidden: true },
    field("Direction", direction, { name: "direction" }),
    field("Extent (% of the image)", extent, { name: "extent" }),
    field("Edges", precise, { name: "outpainting-mode" }),
  );
  const modeHint = h("p", { class: "hint" });
  const updateMode = () => {
    outpaintBox.hidden = !outpaint.checked;
    modeHint.textContent = outpaint.checked
      ? "Outpainting keeps the picture and fills the new border. If you paint a mask, only the painted part of the picture is kept."
      : "Inpainting replaces the painted area.";
    refreshEngines();
  };
  inpaint.addEventListener("change", updateMode);
  outpaint.addEventListener("change", updateMode);

  const prompt = h("textarea", { rows: 2 });
  const negative = h("textarea", { rows: 2 });
  const engine = select([], { name: "engine" });
  const engineHint = h("p", { class: "hint" });
  const submit = h("button", { type: "submit", class: "primary", disabled: true }, "Apply edit");
  const alert = formError();
  const status = statusLine({ "data-testid": "edit-status" });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Edit progress" });
  const result = h("section", { class: "card", "aria-labelledby": "edit-result", hidden: true, "data-testid": "edit-result" });

  const form = h(
    "form",
    { novalidate: true, class: "edit-form" },
    h(
      "section",
      { class: "card", "aria-labelledby": "edit-image" },
      h("h2", { id: "edit-image" }, "Image"),
      h("div", { class: "row wrap" }, chooseFile, fromHistory, fileInput),
      imageError,
      imageInfo,
      stageBox,
      tools,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "edit-what" },
      h("h2", { id: "edit-what" }, "Edit"),
      h(
        "fieldset",
        { class: "choice" },
        h("legend", {}, "Kind of edit"),
        h("div", { class: "check" }, inpaint, h("label", { for: inpaint.id }, "Inpaint: replace the painted area")),
        h("div", { class: "check" }, outpaint, h("label", { for: outpaint.id }, "Outpaint: extend the picture")),
      ),
      modeHint,
      outpaintBox,
      field("Prompt", prompt, { name: "prompt", hint: "What should appear (optional for engines that fill from the picture)." }),
      field("Negative prompt", negative, { name: "negative" }),
      field("Engine", engine, { name: "engine" }),
      engineHint,
      alert,
      h("div", { class: "actions" }, submit),
      status,
      progress,
    ),
  );
  main.append(h("h1", {}, "Edit"), form, result);

  // Keyboard shortcuts while on this page: Ctrl/Cmd+Z undo, [ and ] brush size.
  const onKey = (event) => {
    if (!toolsState.hasImage || event.target.matches("input[type=text], input[type=number], textarea")) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      painter.undo();
    } else if (event.key === "[" || event.key === "]") {
      size.value = String(Number(size.value) + (event.key === "]" ? 4 : -4));
      size.dispatchEvent(new Event("input"));
    }
  };
  document.addEventListener("keydown", onKey);
  signal.addEventListener("abort", () => document.removeEventListener("keydown", onKey));

  let engines = [];
  let source = null; // the canvas shown (≤ 1408 px)
  loadEngines(signal)
    .then((info) => {
      engines = info.engines || [];
      refreshEngines();
    })
    .catch((error) => {
      if (error.name !== "AbortError") showError(form, error);
    });

  function refreshEngines() {
    const task = outpaint.checked ? "OUTPAINTING" : "INPAINTING";
    const able = engineOptions(engines, task);
    const previous = engine.value;
    engine.replaceChildren(...able.map((e) => h("option", { value: e.name }, e.name)));
    if (able.some((e) => e.name === previous)) engine.value = previous;
    const chosen = able.find((e) => e.name === engine.value);
    engineHint.textContent = !able.length
      ? "No engine on this server can do this edit."
      : chosen && !chosen.followsPrompt
        ? `The ${chosen.name} engine fills from the surrounding picture; it does not follow the prompt.`
        : "";
    updateTools();
  }
  engine.addEventListener("change", refreshEngines);

  function updateTools() {
    tools.disabled = !toolsState.hasImage;
    undo.disabled = !painter.canUndo();
    clearMask.disabled = !toolsState.hasImage;
    submit.disabled = !toolsState.hasImage || !engine.value;
  }

  function setSource(canvas, label) {
    source = canvas;
    painter.setImage(canvas);
    placeholder.hidden = true;
    toolsState.hasImage = true;
    imageInfo.textContent = `${label}: ${canvas.width} × ${canvas.height} px`;
    imageError.hidden = true;
    updateTools();
    announce(`Image loaded: ${label}. Paint the mask on it.`);
  }

  async function loadFromBlob(blob, label) {
    let img;
    try {
      img = await imageFromBlob(blob);
    } catch {
      const type = serverRenderedType(blob, label);
      if (!type) {
        imageError.textContent = "This file could not be read as an image.";
        imageError.hidden = false;
        return;
      }
      imageInfo.textContent = `${label}: this browser cannot show it; Easel is preparing a preview…`;
      try {
        const url = await renderOnServer(blob, label, type, MAX_INPUT_SIDE, signal);
        await loadFromUrl(url, `${label} (preview rendered by Easel)`);
      } catch (error) {
        if (error.name === "AbortError") return;
        imageInfo.textContent = "";
        imageError.textContent = `This file could not be read as an image: ${error.message}`;
        imageError.hidden = false;
      }
      return;
    }
    const canvas = fitOnCanvas(img, MAX_INPUT_SIDE);
    const note = img.naturalWidth > MAX_INPUT_SIDE || img.naturalHeight > MAX_INPUT_SIDE ? " (scaled down to fit 1408 px)" : "";
    setSource(canvas, `${label}${note}`);
  }

  async function loadFromUrl(url, label) {
    const img = await loadImage(url);
    setSource(fitOnCanvas(img, MAX_INPUT_SIDE), label);
  }

  // Opening with #/edit?from=<history id>&image=<n> or ?job=<job id>&image=<index>.
  (async () => {
    try {
      const index = Number(params.get("image") || 0);
      if (params.get("from")) {
        const entry = await api("GET", `/v1/history/${encodeURIComponent(params.get("from"))}`, { signal });
        const image = entry.images[index] || entry.images[0];
        if (image) await loadFromUrl(image.url, image.filename);
        if (entry.prompt) prompt.value = entry.prompt;
      } else if (params.get("job")) {
        const job = await api("GET", `/v1/jobs/${encodeURIComponent(params.get("job"))}`, { signal });
        const r = job.results.find((x) => x.index === index && x.output) || job.results.find((x) => x.output);
        if (r) await loadFromUrl(r.output.downloadUrl, r.output.key.split("/").pop());
      }
    } catch (error) {
      if (error.name !== "AbortError") showError(form, error);
    }
  })();

  async function pickFromHistory() {
    const opener = document.activeElement;
    const list = h("ul", { class: "picker" }, h("li", { class: "muted" }, "Loading…"));
    const close = h("button", { type: "button", class: "ghost" }, "Cancel");
    const dialog = h("dialog", { class: "detail", "aria-labelledby": "pick-title" }, h("div", { class: "dialog-head" }, h("h2", { id: "pick-title" }, "Pick an image"), close), list);
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener?.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    try {
      const [history, jobs] = await Promise.all([
        api("GET", "/v1/history?limit=30", { signal }),
        api("GET", "/v1/jobs?limit=30", { signal }),
      ]);
      const choices = [];
      for (const entry of history.items) {
        for (const image of entry.images) choices.push({ url: image.url, name: image.filename, alt: entry.prompt || image.filename, at: entry.createdAt });
      }
      for (const job of jobs.jobs.filter((j) => j.kind === "process")) {
        for (const r of job.results.filter((x) => x.output)) {
          choices.push({ url: r.output.downloadUrl, name: r.output.key.split("/").pop(), alt: r.output.key.split("/").pop(), at: job.createdAt });
        }
      }
      choices.sort((a, b) => (a.at < b.at ? 1 : -1));
      list.replaceChildren(
        ...(choices.length
          ? choices.map((c) => {
              const button = h("button", { type: "button", class: "pick" }, h("img", { src: c.url, alt: "" }), h("span", {}, c.alt));
              button.addEventListener("click", async () => {
                dialog.close();
                await loadFromUrl(c.url, c.name);
              });
              return h("li", {}, button);
            })
          : [h("li", { class: "muted" }, "Your history has no images yet.")]),
      );
      list.querySelector("button")?.focus();
    } catch (error) {
      list.replaceChildren(h("li", { class: "form-error" }, String(error.message || error)));
    }
  }

  // The request body and the exact image sent (for the before/after view).
  function buildRequest() {
    const text = prompt.value.trim();
    const neg = negative.value.trim();
    const params = {};
    if (text) params.text = text;
    if (neg) params.negativeText = neg;
    if (inpaint.checked) {
      if (painter.coverage() === 0) throw new MaskMissing();
      return {
        sent: source,
        body: {
          taskType: "INPAINTING",
          inPaintingParams: { image: canvasToBase64(source), maskImage: canvasToBase64(painter.maskCanvas()), ...params },
          imageGenerationConfig: { numberOfImages: 1 },
          outputFormat: "png",
          engine: engine.value,
        },
      };
    }
    const { canvas, mask } = padForOutpainting(source, painter.coverage() > 0 ? painter.maskCanvas() : null, direction.value, Number(extent.value) || 25);
    return {
      sent: canvas,
      body: {
        taskType: "OUTPAINTING",
        outPaintingParams: { image: canvasToBase64(canvas), maskImage: canvasToBase64(mask), outPaintingMode: precise.value, ...params },
        imageGenerationConfig: { numberOfImages: 1 },
        outputFormat: "png",
        engine: engine.value,
      },
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    document.getElementById("mask-error").hidden = true;
    if (!source) {
      imageError.textContent = "Load an image first.";
      imageError.hidden = false;
      chooseFile.focus();
      return;
    }
    let request;
    try {
      request = buildRequest();
    } catch (error) {
      if (error instanceof MaskMissing) {
        const slot = document.getElementById("mask-error");
        slot.textContent = "Paint the area to change first.";
        slot.hidden = false;
        painter.overlay.focus();
        return;
      }
      throw error;
    }
    submit.disabled = true;
    try {
      const entry = await runGeneration("/v1/generations?wait=0", request.body, status, progress, signal);
      showResult(request.sent, entry);
    } catch (error) {
      if (error.name === "AbortError") return;
      status.set("");
      progress.hidden = true;
      const paramsKey = inpaint.checked ? "inPaintingParams" : "outPaintingParams";
      const name = error instanceof ApiError ? generationField(error, paramsKey) : null;
      if (name === "mask" || name === "image") {
        const slot = name === "mask" ? document.getElementById("mask-error") : imageError;
        slot.textContent = error.message;
        slot.hidden = false;
      } else {
        showError(form, error, () => name);
      }
    } finally {
      updateTools();
    }
  });

  function showResult(before, entry) {
    const image = entry.images[0];
    const beforeUrl = before.toDataURL("image/png");
    const after = h("img", { src: image.url, alt: "After the edit", class: "after", "data-testid": "after", width: image.width, height: image.height });
    const beforeImg = h("img", { src: beforeUrl, alt: "Before the edit", class: "before", "data-testid": "before", width: before.width, height: before.height });
    const slider = h("input", { type: "range", min: 0, max: 100, value: 50, "aria-label": "Compare: drag to show more of the image before or after the edit" });
    const compare = h("div", { class: "compare" }, beforeImg, after);
    const applyClip = () => {
      after.style.clipPath = `inset(0 0 0 ${slider.value}%)`;
    };
    slider.addEventListener("input", applyClip);
    applyClip();
    const sideBySide = h("input", { type: "checkbox", id: newId("side") });
    sideBySide.addEventListener("change", () => {
      compare.classList.toggle("side", sideBySide.checked);
    });
    const again = h("button", { type: "button" }, "Keep editing the result");
    again.addEventListener("click", () => loadFromUrl(image.url, image.filename).then(() => painter.overlay.focus()));
    result.replaceChildren(
      h("h2", { id: "edit-result" }, "Before and after"),
      h("div", { class: "compare-labels", "aria-hidden": "true" }, h("span", {}, "Before"), h("span", {}, "After")),
      compare,
      slider,
      h("div", { class: "check" }, sideBySide, h("label", { for: sideBySide.id }, "Show side by side")),
      h("p", { class: "muted small" }, `Seed ${entry.seed} · ${image.width} × ${image.height} px`),
      imageLinks(image),
      h("div", { class: "actions" }, again),
    );
    result.hidden = false;
    result.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  updateMode();
}

class MaskMissing extends Error {}

/**
 * Pads `source` for outpainting towards `direction` by `percent` of its size, keeping
 * the result within 1408 px (scaling down if needed). The mask is black over the part
 * of the picture to keep: all of it, or only the painted part when `painted` is given.
 */
export function padForOutpainting(source, painted, direction, percent) {
  const w = source.width;
  const h0 = source.height;
  const ex = direction === "all" ? 2 * Math.round((w * percent) / 100) : direction === "left" || direction === "right" ? Math.round((w * percent) / 100) : 0;
  const ey = direction === "all" ? 2 * Math.round((h0 * percent) / 100) : direction === "top" || direction === "bottom" ? Math.round((h0 * percent) / 100) : 0;
  const scale = Math.min(1, MAX_INPUT_SIDE / Math.max(w + ex, h0 + ey));
  const sw = Math.round(w * scale);
  const sh = Math.round(h0 * scale);
  const W = Math.round((w + ex) * scale);
  const H = Math.round((h0 + ey) * scale);
  const x = direction === "all" ? Math.round((W - sw) / 2) : direction === "left" ? W - sw : 0;
  const y = direction === "all" ? Math.round((H - sh) / 2) : direction === "top" ? H - sh : 0;
  const canvas = makeCanvas(W, H);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#808080";
  ctx.fillRect(0, 0, W, H);
  ctx.drawImage(source, x, y, sw, sh);
  const mask = makeCanvas(W, H);
  const m = mask.getContext("2d");
  m.fillStyle = "#fff";
  m.fillRect(0, 0, W, H);
  if (painted) {
    // Black where painted: draw the painted mask (black on white) over the picture's area.
    m.drawImage(painted, x, y, sw, sh);
  } else {
    m.fillStyle = "#000";
    m.fillRect(x, y, sw, sh);
  }
  return { canvas, mask };
}
