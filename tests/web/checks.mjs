// checks.mjs - the browser tests of the page's honesty checks (part of tests/web/run.mjs):
// the complete check at load (one shard of a sharded model, a BERT without embeddings, a
// Llama without tokenizer, a config that does not match), the layout at 800 px and the
// keyboard, the smaller details (settings hint, summary labels, storage), sq-synth.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { assert, eq, run, sameBytes, readSafetensors, writeSafetensors, exampleFiles } from "./helpers.mjs";

export default async function checkTests({ page, test, screenshot, noErrors, waitDone, setSettings, download, OUT, BUILD, ROOT, BERT, STORIES, SQ }) {
  // ---------------- the complete check at load ----------------
  async function loadAndCheck(files) {
    await page.setInputFiles("input[type=file][data-sq=files]", files);
    await page.waitForSelector("#model-info [data-sq=runs]", { timeout: 20000 });
    return { runs: await page.locator("[data-sq=runs]").getAttribute("data-runs"), text: await page.locator("#model-info").innerText() };
  }

  await test("check: one shard of a sharded Llama — 'Runs here: no' with what is missing; weight-only quantization with a warning", async () => {
    const dir = path.join(OUT, "sharded");
    fs.mkdirSync(dir, { recursive: true });
    const { meta, tensors } = readSafetensors(path.join(STORIES, "model.safetensors"));
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap = {};
    shards.forEach((ts, i) => {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(dir, name), ts, meta);
      for (const t of ts) weightMap[t.name] = name;
    });
    fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(STORIES, f), path.join(dir, f));
    const missing = shards[1].map((t) => t.name);
    // one shard and the index: the index names a shard that is not here
    await page.setInputFiles("input[type=file][data-sq=files]", ["model-00001-of-00002.safetensors", "model.safetensors.index.json", "config.json"].map((f) => path.join(dir, f)));
    await page.waitForFunction(() => /model-00002-of-00002\.safetensors/.test(document.querySelector("#errors")?.innerText || ""), null, { timeout: 20000 });
    assert(/names 2 shards, and 1 of them is not among the files given/.test(await page.locator("#errors").innerText()), "the missing shard is named");
    // one shard on its own: it loads as what it is
    await page.setInputFiles("input[type=file][data-sq=files]", ["model-00001-of-00002.safetensors", "config.json", "tokenizer.json"].map((f) => path.join(dir, f)));
    await page.waitForSelector("#model-info [data-sq=runs]", { timeout: 20000 });
    eq(await page.locator("[data-sq=runs]").getAttribute("data-runs"), "no", "Runs here for one shard");
    const info = await page.locator("#model-info").innerText();
    assert(info.includes(`${missing.length} tensors are missing`) && info.includes(missing[0]), `what is missing:\n${info}`);
    assert(/shard 1 of 2/.test(info), "the shard is named");
    assert(await page.locator("#run").isHidden(), "the Run panel shows for a model that cannot run");
    assert(/Weight-only/.test(await page.locator("#settings-hint").innerText()), "the settings warn: weight-only");
    await noErrors("one shard");
    await page.locator("#model-info").scrollIntoViewIfNeeded();
    await screenshot("check-one-shard");
    await page.click("[data-sq=start]");
    await waitDone();
    const note = await page.locator("[data-sq=download-note]").textContent();
    assert(/does not run on its own/.test(note) && !/so it runs on its own/.test(note), `download note: ${note}`);
    await noErrors("one shard quantized");
  });

  await test("shards: the whole sharded folder (2 shards + index) is one model that runs; its download is byte-identical to build/sq on the folder", async () => {
    const dir = path.join(OUT, "sharded");
    const cli = path.join(OUT, "sharded-cli.safetensors");
    const n = run(SQ, ["quantize", dir, cli, "--quiet"]);
    eq(n.status, 0, `native: ${n.stderr}`);
    await page.setInputFiles("input[type=file][data-sq=folder]", dir);
    await page.waitForSelector("#model-info [data-sq=runs]", { timeout: 20000 });
    const info = await page.locator("#model-info").innerText();
    eq(await page.locator("[data-sq=runs]").getAttribute("data-runs"), "yes", `Runs here for the whole sharded model:\n${info}`);
    assert(/2 shards \(model-00001-of-00002\.safetensors/.test(info) && /47 tensors/.test(info), `the shards are named and counted:\n${info}`);
    await setSettings();
    await page.click("[data-sq=start]");
    await waitDone();
    await noErrors("sharded quantize");
    const d = await download("a[data-sq=download]", path.join(OUT, "sharded-page.safetensors"));
    sameBytes(d.file, cli, "page download of a sharded model vs build/sq quantize on its folder");
  });

  await test("check: a BERT without its embeddings and a Llama without a tokenizer do not 'run here'; the whole ones do", async () => {
    const dir = path.join(OUT, "bert-noemb");
    fs.mkdirSync(dir, { recursive: true });
    const { meta, tensors } = readSafetensors(path.join(BERT, "model.safetensors"));
    writeSafetensors(path.join(dir, "model.safetensors"), tensors.filter((t) => !t.name.includes("embeddings.")), meta);
    for (const f of ["config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json"]) if (fs.existsSync(path.join(BERT, f))) fs.copyFileSync(path.join(BERT, f), path.join(dir, f));
    let c = await loadAndCheck(exampleFiles(dir));
    eq(c.runs, "no", "BERT without embeddings");
    assert(/embeddings\.word_embeddings\.weight/.test(c.text), `names the missing embeddings:\n${c.text}`);
    assert(await page.locator("#run").isHidden(), "Run panel for BERT without embeddings");
    await screenshot("check-bert-no-embeddings");
    c = await loadAndCheck([path.join(STORIES, "model.safetensors"), path.join(STORIES, "config.json")]);
    eq(c.runs, "no", "Llama without a tokenizer");
    assert(/there is no tokenizer/.test(c.text), `says the tokenizer is missing:\n${c.text}`);
    // a config whose shapes do not match the weights
    const bad = path.join(OUT, "stories-badcfg");
    fs.mkdirSync(bad, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(STORIES, "config.json"), "utf8"));
    fs.writeFileSync(path.join(bad, "config.json"), JSON.stringify({ ...cfg, intermediate_size: cfg.intermediate_size + 1 }));
    c = await loadAndCheck([path.join(STORIES, "model.safetensors"), path.join(bad, "config.json"), path.join(STORIES, "tokenizer.json")]);
    eq(c.runs, "no", "Llama with a config that does not match");
    assert(/another shape than config\.json implies/.test(c.text), `says the shapes differ:\n${c.text}`);
    for (const [files, what] of [[exampleFiles(BERT), "bert"], [exampleFiles(STORIES), "stories"]]) {
      c = await loadAndCheck(files);
      eq(c.runs, "yes", `the whole ${what}`);
      assert(/all \d+ tensors it needs are here/.test(c.text), `${what}: ${c.text}`);
    }
    // loose files are named after the model, not "model.safetensors"
    assert(!/Model\s+model\.safetensors/.test(c.text), `loose files' name: ${c.text}`);
    await noErrors("checks");
  });

  await test("layout at 800 px: the layer table fits and scrolls by keyboard, one Tab stop for all rows, focus after an error", async () => {
    await page.setViewportSize({ width: 800, height: 900 });
    try {
      await page.click("[data-sq=example-stories]");
      await page.waitForFunction(() => /stories260K/.test(document.querySelector("#model-info")?.innerText || ""), null, { timeout: 20000 });
      await setSettings();
      await page.click("[data-sq=start]");
      await waitDone();
      const wrap = page.locator("[data-sq=layers-wrap]");
      const m = await wrap.evaluate((e) => ({ sw: e.scrollWidth, cw: e.clientWidth, sh: e.scrollHeight, ch: e.clientHeight }));
      assert(m.sw <= m.cw + 1, `the layer table is wider than its box at 800 px (${m.sw} > ${m.cw})`);
      // every column header is inside the box
      const cut = await wrap.evaluate((e) => {
        const r = e.getBoundingClientRect();
        return [...e.querySelectorAll("thead th")].filter((th) => th.offsetParent && th.getBoundingClientRect().right > r.right + 1).map((th) => th.textContent);
      });
      eq(cut.join(", "), "", "headers cut off at 800 px");
      // the box scrolls by keyboard
      await wrap.evaluate((e) => { e.scrollTop = 0; });
      await wrap.focus();
      const top0 = await wrap.evaluate((e) => e.scrollTop);
      await page.keyboard.press("PageDown");
      await page.waitForFunction(() => document.querySelector("[data-sq=layers-wrap]").scrollTop > 0, null, { timeout: 5000 });
      assert((await wrap.evaluate((e) => e.scrollTop)) > top0, "PageDown did not scroll the table");
      // one Tab stop for the rows: from the box, Tab reaches a row button, the next Tab leaves the table
      await page.keyboard.press("Tab");
      eq(await page.evaluate(() => !!document.activeElement.closest("[data-sq=layer]")), true, "Tab from the table box goes to a row");
      await page.keyboard.press("ArrowDown");
      const second = await page.evaluate(() => document.activeElement.closest("[data-sq=layer]")?.dataset.name);
      eq(second, await page.locator("[data-sq=layer]").nth(1).getAttribute("data-name"), "ArrowDown moves to the next row");
      await page.keyboard.press("Tab");
      eq(await page.evaluate(() => !!document.activeElement.closest("[data-sq=layer]")), false, "a second Tab stays in the rows");
      await page.locator("#progress").scrollIntoViewIfNeeded();
      await screenshot("layout-800-table");
      // after an error, focus is on the message, not lost on the page body
      await page.locator("#start").focus();
      await page.setInputFiles("input[type=file][data-sq=files]", [path.join(STORIES, "config.json")]);
      await page.waitForFunction(() => document.querySelector("#errors").innerText.trim().length > 0);
      const f = await page.evaluate(() => ({ body: document.activeElement === document.body, inErrors: !!document.activeElement.closest("#errors") }));
      assert(!f.body, "focus fell to the body after an error");
      await screenshot("layout-800-error");
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  await test("details: settings hint follows changes, summary labels past 30 layers, storage shown and deletable", async () => {
    await page.click("[data-sq=example-stories]");
    await page.waitForFunction(() => /stories260K/.test(document.querySelector("#model-info")?.innerText || ""), null, { timeout: 20000 });
    assert(/^Defaults/.test(await page.locator("#settings-hint").innerText()), "hint with the defaults");
    await page.selectOption("[data-sq=bits]", "2");
    assert(/INT2, k = 3.*changed from the defaults: bits/.test(await page.locator("#settings-hint").innerText()), `hint after a change: ${await page.locator("#settings-hint").innerText()}`);
    await page.selectOption("[data-sq=bits]", "4");
    await page.click("[data-sq=start]");
    await waitDone();
    // 35 layers: the summary's x axis still labels them (numbers every few bars)
    await page.waitForSelector("#summary-chart svg");
    const ticks = await page.locator("#summary-chart svg").first().evaluate((svg) => [...svg.querySelectorAll("[aria-label='x-axis tick label'] text, g[aria-label*='x-axis tick label'] text")].map((t) => t.textContent).filter(Boolean));
    assert(ticks.length >= 5, `summary x labels: ${ticks.join(",")}`);
    // storage: the output file is shown with its size, and can be deleted
    await page.waitForFunction(() => /kept in this browser's storage/.test(document.querySelector("[data-sq=storage]")?.textContent || ""), null, { timeout: 10000 })
      .catch(async (e) => { throw new Error(`storage line: "${await page.locator("[data-sq=storage]").textContent()}"`); });
    await page.click("[data-sq=delete-outputs]");
    await page.waitForFunction(() => /Nothing is kept/.test(document.querySelector("[data-sq=storage]")?.textContent || ""), null, { timeout: 10000 });
    eq(await page.locator("a[data-sq=download]").count(), 0, "download link after deleting");
    const left = await page.evaluate(async () => {
      const names = [];
      for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
      return names.filter((n) => n.startsWith("sq-out-"));
    });
    eq(left.length, 0, `sq-out files after deleting (${left.join(", ")})`);
    await noErrors("details");
  });

  await test("sq-synth: run outside the repository it finds its tokenizer beside the binary; --help creates nothing", async () => {
    const tmp = fs.mkdtempSync(path.join(OUT, "synth-cwd-"));
    const r = spawnSync(path.resolve(ROOT, BUILD, "sq-synth"), ["tiny-model", "--preset", "tiny"], { cwd: tmp, encoding: "utf8" });
    eq(r.status, 0, `sq-synth from another directory: ${r.stderr}`);
    assert(fs.statSync(path.join(tmp, "tiny-model", "tokenizer.json")).size > 1000, "tokenizer.json copied whole");
    const hr = spawnSync(path.resolve(ROOT, BUILD, "sq-synth"), ["--help"], { cwd: tmp, encoding: "utf8" });
    eq(hr.status, 0, "--help exit status");
    assert(/usage: sq-synth/.test(hr.stdout), "--help prints the usage");
    eq(fs.existsSync(path.join(tmp, "--help")), false, "--help made a directory");
    const bad = spawnSync(path.resolve(ROOT, BUILD, "sq-synth"), ["x", "--tokenizer-dir", path.join(tmp, "none")], { cwd: tmp, encoding: "utf8" });
    eq(bad.status, 2, "a missing tokenizer: exit 2");
    eq(fs.existsSync(path.join(tmp, "x")), false, "nothing written when the tokenizer is missing");
    fs.rmSync(tmp, { recursive: true, force: true });
  });

}
