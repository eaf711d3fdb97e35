// models.mjs - browser tests of the models people bring (part of tests/web/run.mjs): tiny
// folders of the other architectures (tests/ref/make_arch.py, make_bert_arch.py: Mistral,
// Qwen2, RoBERTa, DistilBERT) quantized and run in the page as build/sq does, and the
// multiple-choice (ARC) block against `sq eval --task arc`.
import fs from "node:fs";
import path from "node:path";
import { assert, eq, run, sameBytes } from "./helpers.mjs";

export default async function modelTests({ page, test, screenshot, noErrors, waitDone, setSettings, download, runText, OUT, ROOT, BERT, STORIES, SQ }) {
  // ---------------- the other architectures (tests/ref/make_arch.py, make_bert_arch.py) ----------------
  // Tiny random folders with each architecture's own config keys and tensor names, picked as
  // a folder: the page quantizes them byte-identically to build/sq and runs them as the CLI does.
  const NUMPY_PY = ["python3", "/usr/bin/python3"].find((p) => run(p, ["-c", "import numpy"]).status === 0);
  for (const [arch, family, kind] of [["mistral-tiny", "arch", "MistralForCausalLM"], ["qwen2-tiny", "arch", "Qwen2ForCausalLM"],
                                       ["roberta-tiny", "barch", "RobertaForSequenceClassification"],
                                       ["distilbert-tiny", "barch", "DistilBertForSequenceClassification"]]) {
    await test(`architectures: ${arch} folder — quantize byte-identical to build/sq, and it runs as the CLI does`, async () => {
      assert(NUMPY_PY, "numpy is needed to build the tiny models (apt-get install python3-numpy)");
      const dir = path.join(OUT, family);
      if (!fs.existsSync(path.join(dir, arch))) {
        const [script, src] = family === "arch" ? ["tests/ref/make_arch.py", STORIES] : ["tests/ref/make_bert_arch.py", BERT];
        const r = run(NUMPY_PY, [script, src, dir]);
        eq(r.status, 0, `${script}: ${r.stderr}`);
      }
      const folder = path.join(dir, arch);
      await page.setInputFiles("input[type=file][data-sq=folder]", folder);
      await page.waitForFunction((k) => (document.querySelector("#model-info")?.innerText || "").includes(k), kind, { timeout: 20000 });
      eq(await page.locator("[data-sq=runs]").getAttribute("data-runs"), "yes", `${arch}: "Runs here"`);
      await setSettings();
      await page.click("[data-sq=start]");
      await waitDone();
      await noErrors(`quantize ${arch}`);
      const nat = path.join(OUT, `${arch}-native.safetensors`);
      const n = run(SQ, ["quantize", folder, nat, "--bits", "4", "--clusters", "3"]);
      eq(n.status, 0, n.stderr);
      const d = await download("a[data-sq=download]", path.join(OUT, `${arch}-page.safetensors`));
      sameBytes(d.file, nat, `${arch}: page download vs build/sq`);
      if (family === "arch") {
        const prompt = "Once upon a time";
        const out = await runText(prompt);
        const tokens = await page.locator("[data-sq=tokens]").inputValue();
        const r = run(SQ, ["generate", nat, "--prompt", prompt, "-n", tokens]);
        eq(r.status, 0, `sq generate: ${r.stderr}`);
        eq(out, r.stdout.replace(/\n$/, ""), `${arch}: the page's greedy text vs sq generate on the quantized file`);
      } else {
        const text = "i feel so happy and grateful for my friends today";
        const out = await runText(text);
        const r = run(SQ, ["classify", nat, text, "--json"]);
        eq(r.status, 0, `sq classify: ${r.stderr}`);
        eq(out.trim(), JSON.parse(r.stdout).results[0].label, `${arch}: the page's label vs sq classify`);
      }
      if (arch === "qwen2-tiny") {
        await page.locator("#run").scrollIntoViewIfNeeded();
        await screenshot("qwen2-tiny-run");
      }
    });
  }

  await test("arc: the 50 bundled ARC-Easy questions — original and quantized accuracy as sq eval --task arc", async () => {
    await page.click("[data-sq=example-stories]");
    await page.waitForFunction(() => /LlamaForCausalLM/.test(document.querySelector("#model-info")?.innerText || ""), null, { timeout: 20000 });
    await setSettings();
    await page.click("[data-sq=start]");
    await waitDone();
    const quantized = path.join(OUT, "stories-arc-page.safetensors");
    await download("a[data-sq=download]", quantized);
    eq(await page.locator("#arc").isVisible(), true, "the multiple-choice block is shown for a Llama model");
    const data = path.join(ROOT, "data", "arc-easy-sample", "ARC-Easy-Dev-first50.jsonl");
    await page.setInputFiles("[data-sq=arc-file]", data);
    await page.waitForFunction(() => !document.querySelector("[data-sq=arc-run]").disabled, null, { timeout: 10000 });
    await page.click("[data-sq=arc-run]");
    await page.waitForSelector("[data-sq=arc-results][data-done]", { timeout: 180000 });
    await noErrors("arc");
    for (const [w, model] of [["original", STORIES], ["quantized", quantized]]) {
      const r = run(SQ, ["eval", model, "--task", "arc", "--data", data, "--json", "--quiet"]);
      eq(r.status, 0, `sq eval --task arc: ${r.stderr}`);
      const cli = JSON.parse(r.stdout);
      const row = page.locator(`[data-sq=arc-${w}]`);
      eq(Number(await row.getAttribute("data-n")), 50, `${w}: questions scored`);
      eq(Number(await row.getAttribute("data-acc")), cli.acc, `${w}: acc vs sq eval`);
      eq(Number(await row.getAttribute("data-acc-norm")), cli.acc_norm, `${w}: acc_norm vs sq eval`);
    }
    await page.locator("#arc").scrollIntoViewIfNeeded();
    await screenshot("stories-arc");
    // a bad line: one sentence, the page stays usable
    const bad = path.join(OUT, "arc-bad.jsonl");
    fs.writeFileSync(bad, '{"question": "Which?", "choices": ["a", "b"], "answer": "c"}\n');
    await page.setInputFiles("[data-sq=arc-file]", bad);
    await page.waitForFunction(() => /1 question/.test(document.querySelector("#arc-file-name").textContent), null, { timeout: 10000 });
    await page.click("[data-sq=arc-run]");
    await page.waitForFunction(() => /answer is not one of the choices/.test(document.body.innerText), null, { timeout: 30000 });
    await screenshot("stories-arc-bad-line");
    await page.click("#errors .dismiss");
    await noErrors("arc after dismissing the bad line's message");
  });
}
