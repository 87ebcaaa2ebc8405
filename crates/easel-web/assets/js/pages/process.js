// Process: drop many files, choose a preset or build a pipeline (resize, crop,
// watermark text or image, detect objects, draw or blur them, output format and
// quality), upload each file straight to its presigned URL with its own progress bar,
// then one job over all of them, followed live, and a gallery of the results (with the
// detected objects' boxes drawn over each output and listed with their confidences).

import { api, uploadTo } from "../api.js";
import { announce, downloadLink, field, formatBytes, h, newId, select, statusLine } from "../dom.js";
import { clearErrors, describe, formError, showError, showFieldError } from "../errors.js";
import { fileToPngBase64 } from "../images.js";
import { describeProgress, followJob } from "../jobs.js";

// HEIC/HEIF (what iPhones send) and AVIF too: the list shows names, not previews, and
// the outputs are in formats every browser shows.
const ACCEPTED = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif", "image/avif"];
const BY_EXTENSION = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp", gif: "image/gif",
  heic: "image/heic", heif: "image/heif", avif: "image/avif",
};
// The presets: what `GET /v1/presets` lists (configured ones too), described where the
// page knows them; the built-in ones until the list arrives; any name typed in.
const DESCRIPTIONS = {
  thumbnail: "Thumbnail: 256×256, cropped to fill, WebP",
  web: "Web: fit in 1600×1600, JPEG quality 82",
  "web-detect": "Web, and list the objects found",
};
const OTHER = ["__other", "Another preset (type its name)…"];
const PRESETS = [...Object.entries(DESCRIPTIONS), OTHER];
const GRAVITY = [
  ["center", "Centre"], ["north", "Top"], ["northeast", "Top right"], ["east", "Right"],
  ["southeast", "Bottom right"], ["south", "Bottom"], ["southwest", "Bottom left"],
  ["west", "Left"], ["northwest", "Top left"],
];
const STEP_TYPES = {
  resize: {
    label: "Resize",
    fields: [
      { key: "width", label: "Width (px)", type: "number", min: 1, max: 16383, value: 800 },
      { key: "height", label: "Height (px)", type: "number", min: 1, max: 16383, value: 800 },
      { key: "mode", label: "Mode", type: "select", options: [["fit", "Fit inside the box"], ["fill", "Fill the box, crop the rest"], ["exact", "Exactly this size (distort)"]] },
      { key: "enlarge", label: "Enlarge smaller images", type: "checkbox" },
    ],
  },
  crop: {
    label: "Crop",
    fields: [
      { key: "width", label: "Width (px)", type: "number", min: 1, max: 16383, value: 600 },
      { key: "height", label: "Height (px)", type: "number", min: 1, max: 16383, value: 400 },
      { key: "gravity", label: "Keep", type: "select", options: [...GRAVITY, ["smart", "The most interesting part"], ["objects", "The detected objects"]] },
    ],
  },
  watermark_text: {
    label: "Watermark text",
    fields: [
      { key: "text", label: "Text", type: "text", value: "© Easel" },
      { key: "size", label: "Size (% of width)", type: "number", min: 1, max: 50, value: 5, scale: 0.01 },
      { key: "color", label: "Colour", type: "color", value: "#ffffff" },
      { key: "opacity", label: "Opacity (%)", type: "number", min: 1, max: 100, value: 50, scale: 0.01 },
      { key: "gravity", label: "Position", type: "select", options: GRAVITY, value: "southeast" },
      { key: "tile", label: "Repeat over the image", type: "checkbox" },
    ],
  },
  detect: {
    label: "Detect objects",
    fields: [
      { key: "model", label: "Model (empty: the default)", type: "text", value: "" },
      { key: "classes", label: "Only these classes (comma-separated; empty: all)", type: "list" },
      { key: "minConfidence", label: "Lowest confidence (%)", type: "number", min: 1, max: 100, value: 25, scale: 0.01 },
    ],
  },
  annotate: {
    label: "Draw objects",
    fields: [{ key: "labels", label: "Boxes only, no labels", type: "checkbox", checkedValue: false }],
  },
  blur: {
    label: "Blur objects",
    fields: [
      { key: "classes", label: "Classes to blur (comma-separated; empty: every detected object)", type: "list", always: true },
      { key: "sigma", label: "Strength (1–100)", type: "number", min: 1, max: 100, value: 12 },
    ],
  },
  watermark_image: {
    label: "Watermark image",
    fields: [
      { key: "png", label: "Image (PNG with transparency works best)", type: "file" },
      { key: "scale", label: "Width (% of the image)", type: "number", min: 1, max: 100, value: 20, scale: 0.01 },
      { key: "opacity", label: "Opacity (%)", type: "number", min: 1, max: 100, value: 80, scale: 0.01 },
      { key: "gravity", label: "Position", type: "select", options: GRAVITY, value: "southeast" },
      { key: "tile", label: "Repeat over the image", type: "checkbox" },
    ],
  },
};

function contentTypeOf(file) {
  if (ACCEPTED.includes(file.type)) return file.type;
  const ext = file.name.split(".").pop().toLowerCase();
  return BY_EXTENSION[ext] || file.type || "application/octet-stream";
}

/** `#/process` */
export function render(main, { signal }) {
  const files = [];
  const steps = [];
  const input = h("input", { type: "file", multiple: true, accept: [...ACCEPTED, ".heic", ".heif", ".avif"].join(","), class: "visually-hidden", id: newId("files"), "data-field": "files", tabindex: "-1" });
  const choose = h("button", { type: "button" }, "Choose files");
  const fileList = h("ul", { class: "file-list", "aria-label": "Files to process" });
  const clearList = h("button", { type: "button", class: "ghost", hidden: true }, "Clear the list");
  clearList.addEventListener("click", () => {
    files.splice(0, files.length);
    fileList.replaceChildren();
    clearList.hidden = true;
    announce("The list of files is empty");
    choose.focus();
  });
  const filesError = h("p", { class: "field-error", id: `${input.id}-error`, hidden: true });
  const drop = h(
    "div",
    { class: "dropzone", "data-testid": "dropzone" },
    h("p", {}, "Drop images here (JPEG, PNG, WebP, GIF), or"),
    choose,
    input,
  );
  choose.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });

  // What to do: a preset or a pipeline.
  const modePreset = h("input", { type: "radio", name: "mode", value: "preset", checked: true, id: newId("mode") });
  const modePipeline = h("input", { type: "radio", name: "mode", value: "pipeline", id: newId("mode") });
  const preset = select(PRESETS, { name: "preset" });
  api("GET", "/v1/presets", { signal })
    .then(({ presets }) => {
      const chosen = preset.value;
      const options = [...presets.map((p) => [p.name, DESCRIPTIONS[p.name] || p.name]), OTHER];
      preset.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
      preset.value = options.some(([value]) => value === chosen) ? chosen : options[0][0];
    })
    .catch(() => {
      // The built-in list stays, and any other name can still be typed in.
    });
  const otherPreset = h("input", { type: "text", name: "preset-name", autocomplete: "off" });
  const otherField = field("Preset name", otherPreset, { name: "preset-name" });
  otherField.hidden = true;
  preset.addEventListener("change", () => {
    otherField.hidden = preset.value !== "__other";
  });
  const presetBox = h("div", { class: "preset-box" }, field("Preset", preset, { name: "preset" }), otherField);
  const stepList = h("ol", { class: "steps", "aria-label": "Pipeline steps" });
  const addType = select(Object.entries(STEP_TYPES).map(([key, t]) => [key, t.label]), { "aria-label": "Step to add" });
  const addButton = h("button", { type: "button" }, "Add step");
  const format = select([["", "Keep the input's format"], ["jpeg", "JPEG"], ["png", "PNG"], ["webp", "WebP"], ["gif", "GIF"]], { name: "format" });
  const quality = h("input", { type: "number", min: 1, max: 100, value: 82, name: "quality", inputmode: "numeric" });
  const pipelineBox = h(
    "div",
    { class: "pipeline-box", hidden: true },
    stepList,
    h("div", { class: "row" }, addType, addButton),
    h("div", { class: "row" }, field("Output format", format, { name: "output-format" }), field("Quality (1–100, JPEG and WebP)", quality, { name: "output-quality" })),
    h("p", { class: "field-error", id: "pipeline-error", hidden: true, "data-pipeline-error": "" }),
  );
  addButton.addEventListener("click", () => addStep(addType.value));
  for (const radio of [modePreset, modePipeline]) {
    radio.addEventListener("change", () => {
      presetBox.hidden = !modePreset.checked;
      pipelineBox.hidden = !modePipeline.checked;
    });
  }

  const start = h("button", { type: "submit", class: "primary" }, "Upload and process");
  const alert = formError();
  const status = statusLine({ "data-testid": "job-status" });
  const jobProgress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Job progress" });
  const gallery = h("div", { class: "gallery", "aria-live": "polite", "data-testid": "results" });
  const form = h(
    "form",
    { novalidate: true, class: "process-form" },
    h("section", { class: "card", "aria-labelledby": "files-title" }, h("h2", { id: "files-title" }, "1. Files"), drop, filesError, fileList, clearList),
    h(
      "section",
      { class: "card", "aria-labelledby": "what-title" },
      h("h2", { id: "what-title" }, "2. What to do"),
      h(
        "fieldset",
        { class: "choice" },
        h("legend", {}, "Processing"),
        h("div", { class: "check" }, modePreset, h("label", { for: modePreset.id }, "Use a preset")),
        h("div", { class: "check" }, modePipeline, h("label", { for: modePipeline.id }, "Build a pipeline")),
      ),
      presetBox,
      pipelineBox,
    ),
    h("section", { class: "card", "aria-labelledby": "go-title" }, h("h2", { id: "go-title" }, "3. Go"), alert, h("div", { class: "actions" }, start), status, jobProgress),
  );
  main.append(
    h("h1", {}, "Process images"),
    form,
    h("section", { class: "card", "aria-labelledby": "results-title" }, h("h2", { id: "results-title" }, "Results"), gallery),
  );

  function addFiles(list) {
    for (const file of list) {
      const type = contentTypeOf(file);
      const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
      const note = h("span", { class: "file-status" }, ACCEPTED.includes(type) ? "Ready" : "Not an accepted image type");
      const remove = h("button", { type: "button", class: "ghost small", "aria-label": `Remove ${file.name}` }, "Remove");
      const item = { file, type, progress, note, key: null };
      const li = h("li", { "data-file": file.name }, h("span", { class: "file-name" }, file.name), h("span", { class: "muted small" }, formatBytes(file.size)), progress, note, remove);
      remove.addEventListener("click", () => {
        files.splice(files.indexOf(item), 1);
        li.remove();
        clearList.hidden = !files.length;
        announce(`${file.name} removed`);
      });
      item.li = li;
      item.remove = remove;
      files.push(item);
      fileList.append(li);
    }
    clearList.hidden = !files.length;
    announce(`${files.length} file${files.length === 1 ? "" : "s"} to process`);
  }

  function addStep(type) {
    const spec = STEP_TYPES[type];
    const controls = {};
    const error = h("p", { class: "field-error", hidden: true, "data-step-error": "" });
    const body = spec.fields.map((f) => {
      let control;
      if (f.type === "select") control = select(f.options, {});
      else if (f.type === "checkbox") control = h("input", { type: "checkbox" });
      else if (f.type === "file") control = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp" });
      else if (f.type === "list") control = h("input", { type: "text", autocomplete: "off", value: f.value ?? "" });
      else control = h("input", { type: f.type, min: f.min, max: f.max, value: f.value ?? "" });
      if (f.value !== undefined && f.type === "select") control.value = f.value;
      controls[f.key] = control;
      if (f.type === "checkbox") {
        control.id = newId("step");
        return h("div", { class: "check" }, control, h("label", { for: control.id }, f.label));
      }
      return field(f.label, control);
    });
    const up = h("button", { type: "button", class: "ghost small" }, "Move up");
    const removeStep = h("button", { type: "button", class: "ghost small" }, "Remove");
    const legend = h("legend", {});
    const li = h("li", { class: "step" }, h("fieldset", {}, legend, h("div", { class: "step-fields" }, body), error, h("div", { class: "row" }, up, removeStep)));
    const step = { type, spec, controls, li, error, legend };
    up.addEventListener("click", () => {
      const i = steps.indexOf(step);
      if (i > 0) {
        steps.splice(i, 1);
        steps.splice(i - 1, 0, step);
        renumber();
        up.focus();
      }
    });
    removeStep.addEventListener("click", () => {
      steps.splice(steps.indexOf(step), 1);
      li.remove();
      renumber();
      addButton.focus();
    });
    steps.push(step);
    renumber();
    controls[spec.fields[0].key].focus();
  }

  function renumber() {
    stepList.replaceChildren(...steps.map((s) => s.li));
    steps.forEach((s, i) => {
      s.legend.textContent = `Step ${i + 1}: ${s.spec.label}`;
    });
  }

  async function pipelineJson() {
    const ops = [];
    for (const step of steps) {
      const op = { op: step.type };
      for (const f of step.spec.fields) {
        const control = step.controls[f.key];
        if (f.type === "checkbox") {
          if (control.checked) op[f.key] = f.checkedValue ?? true;
        } else if (f.type === "list") {
          const items = control.value.split(",").map((v) => v.trim()).filter(Boolean);
          if (items.length || f.always) op[f.key] = items;
        } else if (f.type === "file") {
          if (!control.files.length) throw stepError(step, "Choose the watermark image.");
          op[f.key] = await fileToPngBase64(control.files[0]);
        } else if (f.type === "number") {
          if (control.value === "") continue;
          const n = Number(control.value);
          op[f.key] = f.scale ? Math.round(n * f.scale * 1000) / 1000 : Math.round(n);
        } else if (control.value !== "") {
          op[f.key] = control.value;
        }
      }
      ops.push(op);
    }
    const pipeline = { ops };
    const output = {};
    if (format.value) output.format = format.value;
    if (quality.value && (format.value === "jpeg" || format.value === "webp" || !format.value)) {
      output.quality = Math.round(Number(quality.value));
    }
    if (Object.keys(output).length) pipeline.output = output;
    return pipeline;
  }

  function stepError(step, message) {
    step.error.textContent = message;
    step.error.hidden = false;
    const e = new Error(message);
    e.shown = true;
    return e;
  }

  // A pipeline error names its step as `ops[i]`; show it in that step.
  function showPipelineError(error) {
    const match = /ops\[(\d+)\]/.exec(error.message || "");
    const step = match ? steps[Number(match[1])] : null;
    const slot = step ? step.error : pipelineBox.querySelector("[data-pipeline-error]");
    slot.textContent = describe(error);
    slot.hidden = false;
    (step ? step.li.querySelector("input, select") : addType).focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    for (const el of form.querySelectorAll("[data-step-error], [data-pipeline-error]")) el.hidden = true;
    const usable = files.filter((f) => ACCEPTED.includes(f.type));
    if (!usable.length) {
      showFieldError(form, "files", files.length ? "None of these files is an accepted image type." : "Add at least one image.");
      choose.focus();
      return;
    }
    let choice;
    try {
      if (modePreset.checked) {
        const name = preset.value === "__other" ? otherPreset.value.trim() : preset.value;
        if (!name) {
          showFieldError(form, "preset-name", "Type the preset's name.");
          otherPreset.focus();
          return;
        }
        choice = { preset: name };
      } else {
        if (!steps.length && !format.value) {
          const slot = pipelineBox.querySelector("[data-pipeline-error]");
          slot.textContent = "Add a step or choose an output format.";
          slot.hidden = false;
          addType.focus();
          return;
        }
        choice = { pipeline: await pipelineJson() };
      }
    } catch (error) {
      if (!error.shown) showError(form, error);
      return;
    }
    start.disabled = true;
    clearList.disabled = true;
    gallery.replaceChildren();
    try {
      await uploadAll(usable);
      status.set("Creating the job…");
      const job = await api("POST", "/v1/jobs", {
        body: { sources: usable.map((f) => ({ bucket: "uploads", key: f.key })), ...choice, metadata: { from: "web" } },
        headers: { "idempotency-key": crypto.randomUUID() },
        signal,
      });
      await follow(job, usable);
    } catch (error) {
      if (error.name === "AbortError") return;
      status.set("");
      if (error.code === "unknown-preset") showError(form, error, () => (preset.value === "__other" ? "preset-name" : "preset"));
      else if (/pipeline|ops\[/.test(error.message || "") || error.code === "invalid-pipeline") showPipelineError(error);
      else if (error.code === "invalid-sources") showError(form, error, () => "files");
      else showError(form, error);
    } finally {
      // Uploaded files stay in the list (a new job reuses their uploads) and can go now.
      for (const item of files) item.remove.disabled = false;
      clearList.disabled = false;
      start.disabled = false;
    }
  });

  async function uploadAll(items) {
    status.set(`Uploading ${items.length} file${items.length === 1 ? "" : "s"}…`);
    let next = 0;
    const failures = [];
    async function worker() {
      while (next < items.length) {
        const item = items[next];
        next += 1;
        if (item.key) continue; // already uploaded (a retry after a failed job)
        item.remove.disabled = true;
        try {
          item.note.textContent = "Uploading…";
          const upload = await api("POST", "/v1/uploads", {
            body: { filename: item.file.name, contentType: item.type, size: item.file.size },
            signal,
          });
          await uploadTo(upload, item.file, (loaded, total) => {
            item.progress.value = Math.round((loaded / Math.max(1, total)) * 100);
          }, signal);
          // Tell Easel the upload is done: on S3 the bytes went straight to the store,
          // so this is how the upload is checked, recorded and its triggers fired.
          await api("POST", "/v1/uploads/complete", {
            body: { bucket: upload.bucket, key: upload.key },
            signal,
          });
          item.key = upload.key;
          item.note.textContent = "Uploaded";
        } catch (error) {
          if (error.name === "AbortError") throw error;
          item.note.textContent = describe(error);
          item.li.classList.add("failed");
          item.remove.disabled = false;
          failures.push(item);
        }
      }
    }
    await Promise.all([worker(), worker(), worker()]);
    if (failures.length) {
      const e = new Error(`${failures.length} upload${failures.length === 1 ? "" : "s"} failed; remove ${failures.length === 1 ? "it" : "them"} or try again.`);
      throw e;
    }
    announce("Uploads finished");
  }

  async function follow(job, items) {
    jobProgress.hidden = false;
    jobProgress.max = Math.max(1, job.imageCount);
    const final = await followJob(job.jobId, (view) => {
      status.set(describeProgress(view));
      jobProgress.value = view.progress || 0;
    }, signal);
    jobProgress.value = final.imageCount;
    const failed = final.results.filter((r) => r.error).length;
    const done = final.results.filter((r) => r.output).length;
    status.set(
      final.status === "COMPLETED"
        ? `Done: ${done} image${done === 1 ? "" : "s"} processed${failed ? `, ${failed} failed` : ""}.`
        : describeProgress(final),
      final.status === "COMPLETED" ? "ok" : "error",
    );
    announce(status.textContent);
    gallery.replaceChildren(...final.results.map((r) => resultCard(r, items[r.index])));
  }
}

/** One processed image: preview, details, downloads, detection boxes. */
export function resultCard(result, item) {
  // Upload keys end in `<uuid>-<file name>`: show the file name.
  const sourceName = result.source ? result.source.key.split("/").pop().replace(/^[0-9a-f]{8}-[0-9a-f-]{27}-/, "") : null;
  const name = item ? item.file.name : sourceName || `Image ${result.index + 1}`;
  if (!result.output) {
    return h("figure", { class: "result failed" }, h("figcaption", {}, h("strong", {}, name), h("p", { class: "form-error" }, result.error ? `${result.error.code}: ${result.error.message}` : "No output")));
  }
  const out = result.output;
  const filename = out.key.split("/").pop();
  return h(
    "figure",
    { class: "result", "data-result": String(result.index) },
    withDetections(h("img", { src: out.downloadUrl, alt: `${name}, processed`, width: out.width, height: out.height, loading: "lazy" }), out, result.detections || []),
    h(
      "figcaption",
      {},
      h("strong", {}, name),
      h("span", { class: "muted small" }, ` ${out.width}×${out.height} ${out.format.toUpperCase()}, ${formatBytes(out.bytes)}`),
      h(
        "div",
        { class: "links" },
        downloadLink(out.downloadUrl, filename, "Download", { "aria-label": `Download ${filename}` }),
        h("a", { href: out.downloadUrl, target: "_blank", rel: "noopener" }, "1 h link"),
        h("a", { href: out.downloadUrl24h, target: "_blank", rel: "noopener" }, "24 h link"),
      ),
    ),
  );
}

/**
 * Wraps `img` with an SVG layer drawing each detection's box where it is in the output
 * (`outputBbox`; one the pipeline cut away is listed, not drawn), and lists them all
 * with their confidences.
 */
export function withDetections(img, output, detections) {
  if (!detections.length) return h("div", { class: "preview" }, img);
  const labelOf = (d) => `${d.label} ${Math.round(d.confidence * 100)}%`;
  const placed = detections.filter((d) => d.outputBbox);
  const fontSize = Math.max(12, output.width / 40);
  const svg = h(
    "svg:svg",
    { class: "detections", viewBox: `0 0 ${output.width} ${output.height}`, preserveAspectRatio: "none", "aria-hidden": "true" },
    placed.map((d) => {
      const [x1, y1, x2, y2] = d.outputBbox;
      return h(
        "svg:g",
        { class: "detection" },
        h("svg:rect", { x: x1, y: y1, width: Math.max(1, x2 - x1), height: Math.max(1, y2 - y1), "stroke-width": Math.max(2, output.width / 300) }),
        h("svg:text", { x: x1 + 4, y: Math.max(fontSize, y1 - 4), "font-size": fontSize }, labelOf(d)),
      );
    }),
  );
  const list = h(
    "ul",
    { class: "detected small", "aria-label": "Detected objects" },
    detections.map((d) => h("li", { "data-label": d.label }, labelOf(d), d.outputBbox ? "" : h("span", { class: "muted" }, " (cropped out)"))),
  );
  return h(
    "div",
    { class: "preview has-detections", "data-detections": String(detections.length) },
    h("div", { class: "frame" }, img, svg),
    list,
  );
}
