// Generate: text to image with every option of the Titan-style request (prompt,
// negative prompt, style, size, format, quality, seed with a random toggle, cfg scale,
// number of images, engine among those that can do the task), live progress, and the
// results with downloads, the 1 h / 24 h links, "regenerate" and "variation".

import { api } from "../api.js";
import { announce, besideLabel, downloadLink, field, formatBytes, h, newId, select, statusLine } from "../dom.js";
import { ApiError, clearErrors, describe, formError, showError } from "../errors.js";
import { blobToBase64, canvasToBase64, fitOnCanvas, imageFromBlob } from "../images.js";
import { describeProgress, followJob } from "../jobs.js";

const SIZES = [512, 768, 1024];
const MAX_SEED = 2147483646;

/** Loads `/v1/engines` once per page view. */
export function loadEngines(signal) {
  return api("GET", "/v1/engines", { signal });
}

/** Engines able to do `task`, as `[name, label]` options with "automatic" first. */
export function engineOptions(engines, task) {
  const able = engines.filter((e) => e.tasks.includes(task));
  return able;
}

/** Field name for an API error of a generation form (pointer or code). */
export function generationField(error, paramsKey) {
  const p = error.pointer || "";
  if (p === `#/${paramsKey}/text` || error.code === "content-filtered") return "prompt";
  // A required key missing from the parameters names the object, the key in brackets.
  if (p === `#/${paramsKey}` && /\[text\]/.test(error.message)) return "prompt";
  if (p === `#/${paramsKey}/negativeText`) return "negative";
  if (p === `#/${paramsKey}/image`) return "image";
  if (p === `#/${paramsKey}/maskImage`) return "mask";
  if (p.startsWith("#/imageGenerationConfig/numberOfImages")) return "count";
  if (p.startsWith("#/imageGenerationConfig/cfgScale")) return "cfg";
  if (p.startsWith("#/imageGenerationConfig/seed")) return "seed";
  if (p.startsWith("#/imageGenerationConfig/quality")) return "quality";
  if (p.startsWith("#/imageGenerationConfig")) return "size";
  switch (error.code) {
    case "unknown-style":
    case "style-needs-prompt":
      return "style";
    case "invalid-output-format":
      return "format";
    case "invalid-output-quality":
      return "output-quality";
    case "unknown-engine":
    case "engine-unsupported-task":
      return "engine";
    default:
      return null;
  }
}

/** POSTs a generation (or regeneration) and follows it to the end; returns the entry. */
export async function runGeneration(path, body, status, progress, signal) {
  status.set("Sending…");
  const { body: entry } = await api("POST", path, { body, signal, full: true });
  return followEntry(entry, status, progress, signal);
}

/** Follows a history entry's job live; returns the finished entry (throws on failure). */
export async function followEntry(entry, status, progress, signal) {
  progress.hidden = false;
  progress.max = Math.max(1, entry.numberOfImages || 1);
  progress.value = 0;
  if (entry.status !== "COMPLETED") {
    const final = await followJob(entry.id, (view) => {
      status.set(describeProgress(view));
      progress.value = view.progress || 0;
    }, signal);
    entry = await api("GET", `/v1/history/${encodeURIComponent(entry.id)}`, { signal });
    if (final.status !== "COMPLETED") {
      const e = entry.error || { code: "generation-failed", message: final.error || "the generation failed" };
      throw new ApiError(400, e.code, e.message);
    }
  }
  progress.value = progress.max;
  const n = entry.images.length;
  status.set(`Done: ${n} image${n === 1 ? "" : "s"}.`, "ok");
  announce(`Done: ${n} image${n === 1 ? "" : "s"} ready`);
  return entry;
}

/** Download links for one image of a history entry. */
export function imageLinks(image) {
  return h(
    "div",
    { class: "links" },
    downloadLink(image.url, image.filename, "Download", { "aria-label": `Download ${image.filename}` }),
    h("a", { href: image.url, target: "_blank", rel: "noopener", title: "Valid for 1 hour" }, "1 h link"),
    h("a", { href: image.url24h, target: "_blank", rel: "noopener", title: "Valid for 24 hours" }, "24 h link"),
  );
}

/** The image of a history entry as base64 PNG/JPEG for a new request (≤ 1408 px). */
export async function imageAsBase64(image) {
  const response = await fetch(image.url);
  if (!response.ok) throw new Error(`the image could not be fetched (${response.status})`);
  const blob = await response.blob();
  const small = (image.width || 0) <= 1408 && (image.height || 0) <= 1408;
  if (small && (blob.type === "image/png" || blob.type === "image/jpeg")) return blobToBase64(blob);
  return canvasToBase64(fitOnCanvas(await imageFromBlob(blob)));
}

/** `#/generate` */
export function render(main, { signal, params }) {
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true });
  const promptCount = h("span", { class: "counter muted small", "aria-live": "off" }, "0 / 512");
  prompt.addEventListener("input", () => {
    promptCount.textContent = `${prompt.value.length} / 512`;
  });
  const negative = h("textarea", { name: "negative", rows: 2 });
  const style = select([["", "None"]], { name: "style" });
  const size = select(SIZES.map((s) => [String(s), `${s} × ${s}`]), { name: "size" });
  size.value = "1024";
  const format = select([["png", "PNG"], ["jpeg", "JPEG"], ["webp", "WebP"]], { name: "format" });
  const quality = select([["standard", "Standard"], ["premium", "Premium"]], { name: "quality" });
  const outputQuality = h("input", { type: "number", min: 1, max: 100, value: 90, inputmode: "numeric" });
  const outputQualityField = field("Compression quality (1–100)", outputQuality, { name: "output-quality" });
  outputQualityField.hidden = true;
  format.addEventListener("change", () => {
    outputQualityField.hidden = format.value === "png";
  });
  const seed = h("input", { type: "number", min: 0, max: MAX_SEED, step: 1, inputmode: "numeric", disabled: true, placeholder: "random" });
  const randomSeed = h("input", { type: "checkbox", checked: true, id: newId("random-seed") });
  randomSeed.addEventListener("change", () => {
    seed.disabled = randomSeed.checked;
    if (!randomSeed.checked) seed.focus();
  });
  const cfg = h("input", { type: "range", min: 1.1, max: 10, step: 0.1, value: 8 });
  const cfgValue = h("output", {}, "8.0");
  cfg.addEventListener("input", () => {
    cfgValue.textContent = Number(cfg.value).toFixed(1);
  });
  const count = h("input", { type: "number", min: 1, max: 5, value: 1, inputmode: "numeric" });
  const engine = select([["", "Automatic"]], { name: "engine" });
  const submit = h("button", { type: "submit", class: "primary" }, "Generate");
  const alert = formError();
  const unavailable = h("p", { class: "notice warn", hidden: true, role: "status" });
  const status = statusLine({ "data-testid": "generation-status" });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Generation progress" });
  const results = h("div", { class: "results", "data-testid": "results" });

  const cfgField = field("Prompt strength (cfg scale)", cfg, { name: "cfg", hint: "Higher follows the prompt more closely." });
  besideLabel(cfgField, cfgValue);
  cfgValue.setAttribute("for", cfg.id);
  const seedField = field("Seed", seed, { name: "seed" });
  seedField.append(h("div", { class: "check" }, randomSeed, h("label", { for: randomSeed.id }, "Random seed")));
  const promptField = field("Prompt", prompt, { name: "prompt", hint: "Describe the image." });
  besideLabel(promptField, promptCount);

  const form = h(
    "form",
    { novalidate: true, class: "gen-form card" },
    unavailable,
    promptField,
    field("Negative prompt", negative, { name: "negative", hint: "What to leave out (optional)." }),
    h(
      "div",
      { class: "row wrap" },
      field("Style", style, { name: "style" }),
      field("Size", size, { name: "size" }),
      field("Format", format, { name: "format" }),
      field("Quality", quality, { name: "quality" }),
      outputQualityField,
    ),
    h("div", { class: "row wrap" }, seedField, cfgField),
    h("div", { class: "row wrap" }, field("Number of images", count, { name: "count" }), field("Engine", engine, { name: "engine" })),
    alert,
    h("div", { class: "actions" }, submit),
    status,
    progress,
  );
  main.append(h("h1", {}, "Generate"), h("div", { class: "split" }, form, h("section", { class: "card", "aria-labelledby": "gen-results" }, h("h2", { id: "gen-results" }, "Results"), results)));

  let engines = [];
  let variationEngines = [];
  loadEngines(signal)
    .then((info) => {
      for (const s of info.styles || []) style.append(h("option", { value: s.name }, s.label || s.name));
      engines = engineOptions(info.engines || [], "TEXT_IMAGE");
      variationEngines = engineOptions(info.engines || [], "IMAGE_VARIATION");
      for (const e of engines) engine.append(h("option", { value: e.name }, e.name));
      updateMax();
      if (!engines.length) {
        unavailable.textContent = "No engine on this server can make images from text. An administrator can enable one (for example [engines.openai] or [engines.bedrock]).";
        unavailable.hidden = false;
        submit.disabled = true;
      }
      if (params.get("from")) prefill(params.get("from"));
    })
    .catch((error) => {
      if (error.name !== "AbortError") showError(form, error);
    });

  function updateMax() {
    const chosen = engines.find((e) => e.name === engine.value) || engines[0];
    const max = chosen ? chosen.maxImages : 5;
    count.max = String(max);
    if (Number(count.value) > max) count.value = String(max);
  }
  engine.addEventListener("change", updateMax);

  async function prefill(id) {
    try {
      const entry = await api("GET", `/v1/history/${encodeURIComponent(id)}`, { signal });
      prompt.value = entry.prompt || "";
      negative.value = entry.negativePrompt || "";
      if (entry.stylePreset) style.value = entry.stylePreset;
      if (SIZES.includes(entry.width) && entry.width === entry.height) size.value = String(entry.width);
      format.value = entry.outputFormat || "png";
      quality.value = entry.quality || "standard";
      cfg.value = String(entry.cfgScale || 8);
      cfgValue.textContent = Number(cfg.value).toFixed(1);
      count.value = String(entry.numberOfImages || 1);
      prompt.dispatchEvent(new Event("input"));
      showEntry(entry);
    } catch (error) {
      if (error.name !== "AbortError") showError(form, error);
    }
  }

  function body() {
    const config = {
      numberOfImages: Math.round(Number(count.value) || 1),
      quality: quality.value,
      cfgScale: Math.round(Number(cfg.value) * 10) / 10,
      width: Number(size.value),
      height: Number(size.value),
    };
    if (!randomSeed.checked && seed.value !== "") config.seed = Math.round(Number(seed.value));
    const params = { text: prompt.value };
    if (negative.value.trim()) params.negativeText = negative.value;
    const request = { taskType: "TEXT_IMAGE", textToImageParams: params, imageGenerationConfig: config, outputFormat: format.value };
    if (style.value) request.stylePreset = style.value;
    if (engine.value) request.engine = engine.value;
    if (format.value !== "png" && outputQuality.value) request.outputQuality = Math.round(Number(outputQuality.value));
    return request;
  }

  async function run(path, requestBody) {
    clearErrors(form);
    submit.disabled = true;
    results.setAttribute("aria-busy", "true");
    try {
      const entry = await runGeneration(path, requestBody, status, progress, signal);
      showEntry(entry);
    } catch (error) {
      if (error.name === "AbortError") return;
      status.set("");
      progress.hidden = true;
      showError(form, error, (e) => generationField(e, "textToImageParams"));
    } finally {
      submit.disabled = !engines.length;
      results.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!prompt.value.trim()) {
      clearErrors(form);
      showError(form, new ApiError(400, "missing", "Write a prompt first.", {}), () => "prompt");
      return;
    }
    if (!randomSeed.checked && seed.value === "") {
      showError(form, new ApiError(400, "missing", "Enter a seed, or tick “Random seed”.", {}), () => "seed");
      return;
    }
    run("/v1/generations?wait=0", body());
  });

  function showEntry(entry) {
    const seedText = h("span", { "data-testid": "used-seed" }, String(entry.seed));
    const reuse = h("button", { type: "button", class: "ghost small" }, "Use this seed");
    reuse.addEventListener("click", () => {
      randomSeed.checked = false;
      seed.disabled = false;
      seed.value = String(entry.seed);
      seed.focus();
      announce(`Seed set to ${entry.seed}`);
    });
    const regenerate = h("button", { type: "button" }, "Regenerate");
    regenerate.addEventListener("click", () => run(`/v1/history/${encodeURIComponent(entry.id)}/regenerate?wait=0`, {}));
    const noVariation = variationEngines.length ? null : newId("no-variation");
    const figures = entry.images.map((image, i) => {
      const variation = h("button", { type: "button", disabled: !variationEngines.length, "aria-describedby": noVariation }, "Variation");
      variation.addEventListener("click", async () => {
        variation.disabled = true;
        try {
          const request = {
            taskType: "IMAGE_VARIATION",
            imageVariationParams: { images: [await imageAsBase64(image)], text: entry.prompt || prompt.value, similarityStrength: 0.7 },
            imageGenerationConfig: { numberOfImages: 1, quality: entry.quality, cfgScale: entry.cfgScale, width: entry.width, height: entry.height },
            outputFormat: entry.outputFormat,
            engine: variationEngines[0].name,
          };
          if (entry.negativePrompt) request.imageVariationParams.negativeText = entry.negativePrompt;
          await run("/v1/generations?wait=0", request);
        } catch (error) {
          showError(form, error);
        } finally {
          variation.disabled = false;
        }
      });
      return h(
        "figure",
        { class: "result" },
        h("div", { class: "preview" }, h("img", { src: image.url, alt: `Generated image ${i + 1} of ${entry.images.length}: ${entry.prompt || ""}`, width: image.width, height: image.height })),
        h(
          "figcaption",
          {},
          h("span", { class: "muted small" }, `${image.width}×${image.height} ${String(image.format).toUpperCase()}, ${formatBytes(image.bytes)}`),
          imageLinks(image),
          h("div", { class: "links" }, variation, h("a", { class: "button", href: `#/edit?from=${encodeURIComponent(entry.id)}&image=${i}` }, "Edit")),
        ),
      );
    });
    const parts = [
      h("p", { class: "seed-line" }, "Seed used: ", seedText, " ", reuse),
      h("div", { class: "gallery" }, figures),
      noVariation ? h("p", { class: "muted small", id: noVariation }, "Variations need an engine that can do image variation; none is configured here.") : null,
      h("div", { class: "actions" }, regenerate),
    ];
    results.replaceChildren(...parts.filter(Boolean));
  }
}
