// The console in a real Chromium: every step of the "Managing Devices" page done by clicking,
// checked on the page and through the HTTP API; the pages' accessibility checked with axe-core.
//
// Run by .ci/browser.sh: DPS_BIN is the dps binary, DPS_BROWSER_MODULES the node_modules folder
// with playwright-core, axe-core, jsqr, pngjs and adm-zip, DPS_BROWSER_OUT where screenshots go.

import { createRequire } from "node:module";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const require = createRequire(join(process.env.DPS_BROWSER_MODULES, "x.js"));
const { chromium } = require("playwright-core");
const AdmZip = require("adm-zip");
const { PNG } = require("pngjs");
const jsQR = require("jsqr");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const DPS = process.env.DPS_BIN;
const OUT = process.env.DPS_BROWSER_OUT;
mkdirSync(OUT, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), "dps-console-"));
writeFileSync(
  join(dir, "dps-targets.toml"),
  `[[targets]]
environment = "prod-eu"
ou = "acme"
models = ["thermostat", "meter"]
mqtt_endpoint = "mqtts://mqtt.example.com:8883"
`,
);

// The default database (./dps.sqlite), targets file and key file of the directory.
const env = { ...process.env, DPS_LOG: "warn" };
for (const name of ["DPS_DATABASE_URL", "DPS_TARGETS", "DPS_KEY_FILE"]) delete env[name];

function dps(...args) {
  const out = execFileSync(DPS, ["--json", ...args], { cwd: dir, env });
  return JSON.parse(out.toString());
}

const lab = dps("group", "create", "--name", "Lab", "--environment", "prod-eu", "--ou", "acme", "--attribute", "floor:integer");
const copy = dps("group", "create", "--name", "Lab copy", "--environment", "prod-eu", "--ou", "acme", "--attribute", "floor:integer");
const viewer = dps("token", "create", "--name", "watcher", "--role", "viewer").token;

// `dps serve` on a free port; its first line names the URL and the admin token.
// A batch over 20 devices runs as a job, so that the job's page is tested too.
const server = spawn(DPS, ["--json", "serve", "--listen", "127.0.0.1:0", "--job-threshold", "20"], { cwd: dir, stdio: ["ignore", "pipe", "inherit"], env });
const first = await new Promise((resolve, reject) => {
  let text = "";
  server.stdout.on("data", (chunk) => {
    text += chunk;
    const end = text.indexOf("\n");
    if (end >= 0) resolve(JSON.parse(text.slice(0, end)));
  });
  server.on("exit", (code) => reject(new Error(`dps serve exited with ${code}`)));
});
process.on("exit", () => server.kill("SIGTERM"));
const BASE = first.url;
// The database had a viewer token already, so serve made no admin token: make one.
const admin = first.token ?? dps("token", "create", "--name", "admin", "--role", "admin").token;

async function api(method, path, body) {
  const response = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}
const device = async (group, serial) => api("GET", `/v1/groups/${group}/devices/${serial}`);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
function watch(page) {
  // A refusal's status (401, 409) is logged too; what matters is what the page refused.
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => d.accept());
}
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1366, height: 900 } });
const page = await context.newPage();
watch(page);
async function shot(name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}
async function download(click) {
  const [file] = await Promise.all([page.waitForEvent("download"), click()]);
  return readFileSync(await file.path());
}
const text = async () => page.locator("main").innerText();

// Sign in: without a session every page sends the browser to the sign-in page.
await page.goto(BASE + "/");
assert.match(page.url(), /\/sign-in$/);
await shot("sign-in");
await page.getByLabel("Access token", { exact: true }).fill("dps_wrong");
await page.getByRole("button", { name: "Sign in", exact: true }).click();
assert.match(await text(), /That token is not known here/);
await page.getByLabel("Access token", { exact: true }).fill(admin);
await page.getByRole("button", { name: "Sign in", exact: true }).click();
assert.equal(new URL(page.url()).pathname, "/");
assert.match(await text(), /Lab copy/);
await shot("groups");

// Group Information: edit the group.
await page.getByRole("link", { name: "View Details of Lab", exact: true }).click();
await page.getByRole("link", { name: "Group Information", exact: true }).click();
await page.getByLabel("Description", { exact: true }).fill("Third floor <b>east</b>");
await page.getByLabel("Auto-activation", { exact: true }).check();
await page.getByRole("button", { name: "Save", exact: true }).click();
assert.match(await text(), /The group information was saved/);
let group = await api("GET", `/v1/groups/${lab.id}`);
assert.equal(group.body.description, "Third floor <b>east</b>");
assert.equal(group.body.auto_activation, true);
await shot("group-information");

// Import: the template, an upload with one bad record, Confirm, the error CSV.
await page.getByRole("link", { name: "Import", exact: true }).click();
const template = (await download(() => page.getByRole("link", { name: "Register Device Template (.csv)", exact: true }).click())).toString();
assert.match(template.split("\n")[0], /Device Serial No\./);
let csv = "Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,floor\n";
for (let i = 1; i <= 60; i++) {
  const n = String(i).padStart(4, "0");
  csv += `LAB-${n},Unit ${i},${i % 2 ? "thermostat" : "meter"},+01:00,${i <= 30 ? "b1" : "b2"},${i}\n`;
}
csv += "LAB-BAD,Broken,no such model!,+01:00,b1,1\n";
await page.getByLabel("CSV file", { exact: true }).setInputFiles({ name: "devices.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
await page.getByRole("button", { name: "Upload File", exact: true }).click();
assert.match(await text(), /61 records: 60 to register, 0 to update, 0 unchanged, 1 refused/);
await shot("import");
// 61 records are more than the job threshold (20 here): a job imports them, and its page
// shows the progress, then the outcome and the refused records.
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(page.url(), /\/jobs\//);
await page.locator("main p strong", { hasText: "Finished" }).waitFor({ timeout: 60000 });
assert.match(await text(), /61 of 61 devices done: 60 succeeded, 1 failed/);
assert.match(await text(), /invalid_model_id/);
await shot("import-job");
const errors = (await download(() => page.getByRole("link", { name: "Download the refused records (.csv)", exact: true }).click())).toString();
assert.match(errors, /^Line,Column,Value,Code,Message/);
assert.match(errors, /^62,Model ID,no such model!,invalid_model_id,/m);
assert.equal((await device(lab.id, "LAB-0060")).body.batch_tag, "b2");

// Device Information: pages and filters.
await page.getByRole("link", { name: "Device Information", exact: true }).click();
assert.equal(await page.locator("tbody input[name=serial]").count(), 50);
await page.getByRole("link", { name: "Next page", exact: true }).click();
assert.equal(await page.locator("tbody input[name=serial]").count(), 10);
await page.getByRole("link", { name: "First page", exact: true }).click();
await page.getByLabel("Batch Tag", { exact: true }).fill("b2");
await page.getByRole("button", { name: "Filter", exact: true }).click();
assert.match(await text(), /Devices \(30 match\)/);
await page.getByLabel("Batch Tag", { exact: true }).fill("");
await page.getByRole("button", { name: "Filter", exact: true }).click();

const select = async (...serials) => {
  for (const s of serials) await page.getByLabel(`Select ${s}`, { exact: true }).check();
};
// Allocate, with the confirmation, then the rule of the manual where it bites.
await select("LAB-0001", "LAB-0002", "LAB-0003");
await page.getByRole("button", { name: "Allocate", exact: true }).click();
assert.match(await text(), /Allocate the 3 selected devices\?/);
assert.match(await text(), /must be Not allocated/);
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(await text(), /Allocate: 3 succeeded, 0 failed/);
for (const s of ["LAB-0001", "LAB-0002", "LAB-0003"]) assert.equal((await device(lab.id, s)).body.status, "allocated");
await page.getByRole("link", { name: "Back to Device Information", exact: true }).click();
await shot("device-information");
await page.screenshot({ path: join(OUT, "device-information-screen.png") });
await select("LAB-0001");
await page.getByRole("button", { name: "Allocate", exact: true }).click();
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(await text(), /Allocate: 0 succeeded, 1 failed/);
assert.match(await text(), /LAB-0001/);
await page.getByRole("link", { name: "Back to Device Information", exact: true }).click();

// Reset Allocation Status, confirmed.
await select("LAB-0003");
await page.getByRole("button", { name: "Reset Allocation Status", exact: true }).click();
assert.match(await text(), /disconnects them from their current environment\/OU/);
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(await text(), /Reset Allocation Status: 1 succeeded/);
assert.equal((await device(lab.id, "LAB-0003")).body.status, "not_allocated");
await page.getByRole("link", { name: "Back to Device Information", exact: true }).click();

// Export Device Info: the CSV of the selection, which imports into another group.
await select("LAB-0004", "LAB-0005", "LAB-0006");
const exported = (await download(() => page.getByRole("button", { name: "Export Device Info", exact: true }).click())).toString();
assert.equal(exported.trim().split("\n").length, 4, exported);
await page.goto(`${BASE}/groups/${copy.id}/import`);
await page.getByLabel("CSV file", { exact: true }).setInputFiles({ name: "export.csv", mimeType: "text/csv", buffer: Buffer.from(exported) });
await page.getByRole("button", { name: "Upload File", exact: true }).click();
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(await text(), /Imported: 3 registered/);
assert.equal((await device(copy.id, "LAB-0005")).body.model_id, "thermostat");

// Export QR Code: every device that matches a filter; each label decodes to its device.
await page.goto(`${BASE}/groups/${lab.id}/devices?status=allocated`);
await page.getByLabel(/Select every device that matches/).check();
const zip = new AdmZip(await download(() => page.getByRole("button", { name: "Export QR Code", exact: true }).click()));
const labels = zip.getEntries().filter((e) => e.entryName.endsWith(".png"));
assert.equal(labels.length, 2);
for (const entry of labels) {
  const png = PNG.sync.read(entry.getData());
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code, `${entry.entryName} holds a QR code`);
  assert.ok(code.data.includes(entry.entryName.replace(".png", "")), code.data);
}

// Edit: every field but the serial; a name with a script tag shows as text.
await page.goto(`${BASE}/groups/${lab.id}/devices`);
await page.getByRole("link", { name: "View Details of LAB-0001", exact: true }).click();
assert.match(await text(), /prod-eu\/acme \(group\)/);
await page.getByLabel("Device Name", { exact: true }).fill("<script>window.pwned=1</script>");
await page.getByLabel("Batch Tag", { exact: true }).fill("b9");
await page.getByLabel(/^floor/).fill("7");
await page.getByRole("button", { name: "Save", exact: true }).click();
assert.match(await text(), /The device was saved/);
assert.equal(await page.getByLabel("Device Name", { exact: true }).inputValue(), "<script>window.pwned=1</script>");
await page.goto(`${BASE}/groups/${lab.id}/devices?batch_tag=b9`);
assert.match(await text(), /<script>window.pwned=1<\/script>/);
assert.equal(await page.evaluate(() => window.pwned), undefined);
await page.getByRole("link", { name: "View Details of LAB-0001", exact: true }).click();
let d1 = (await device(lab.id, "LAB-0001")).body;
assert.equal(d1.name, "<script>window.pwned=1</script>");
assert.equal(d1.batch_tag, "b9");
assert.equal(d1.attributes.floor, "7");
await shot("device");

// Two operators edit the same device: the later one sees a conflict, nothing is overwritten.
const other = await context.newPage();
watch(other);
const path2 = `${BASE}/groups/${lab.id}/devices/LAB-0002`;
await page.goto(path2);
await other.goto(path2);
await page.getByLabel("Device Name", { exact: true }).fill("first");
await page.getByRole("button", { name: "Save", exact: true }).click();
await other.getByLabel("Device Name", { exact: true }).fill("second");
await other.getByRole("button", { name: "Save", exact: true }).click();
assert.match(await other.locator("main").innerText(), /Someone else changed this device/);
assert.equal((await device(lab.id, "LAB-0002")).body.name, "first");
await other.close();

// Replace: Manual Input, Batch Tag, Description, Confirm; the asset ID is kept.
await page.goto(`${BASE}/groups/${lab.id}/devices/LAB-0001`);
await page.getByLabel("Manual Input", { exact: true }).check();
await page.getByLabel("Device Serial No. (1 - 64 characters)", { exact: true }).fill("LAB-R001");
await page.getByLabel("Batch Tag (1 - 64 characters)", { exact: true }).fill("rma-1");
await page.getByLabel("Description (max 512 characters)", { exact: true }).fill("fan broke");
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(await text(), /The device was replaced/);
const replaced = (await device(lab.id, "LAB-R001")).body;
assert.equal(replaced.asset_id, d1.asset_id);
assert.notEqual(replaced.device_key, d1.device_key);
assert.match(await text(), new RegExp(replaced.asset_id));
assert.match(await text(), new RegExp(replaced.device_key));
assert.match(await text(), /LAB-0001/); // the replaced serial, and its events

// Delete one (the browser asks first), then two as a batch with the confirmation.
await page.goto(`${BASE}/groups/${lab.id}/devices/LAB-0010`);
await page.getByLabel("Yes, delete LAB-0010", { exact: true }).check();
await page.getByRole("button", { name: "Delete", exact: true }).click();
assert.match(await text(), /The device was deleted/);
assert.equal((await device(lab.id, "LAB-0010")).status, 404);
await select("LAB-0011", "LAB-0012");
await page.getByRole("button", { name: "Delete", exact: true }).click();
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(await text(), /Delete: 2 succeeded, 0 failed/);
assert.equal((await device(lab.id, "LAB-0012")).status, 404);

// A batch over more devices than the job threshold runs as a job: its page shows a progress
// bar, reloads itself until the job ends, then its outcome.
await page.goto(`${BASE}/groups/${lab.id}/devices?batch_tag=b2`);
await page.getByLabel(/Select every device that matches/).check();
await page.getByRole("button", { name: "Allocate", exact: true }).click();
await page.getByRole("button", { name: "Confirm", exact: true }).click();
assert.match(page.url(), /\/jobs\//);
assert.equal(await page.locator("progress").count(), 1);
await page.locator("main p strong", { hasText: "Finished" }).waitFor({ timeout: 60000 });
assert.match(await text(), /Finished/);
assert.match(await text(), /30 of 30 devices done: 30 succeeded, 0 failed/);
await shot("job");
assert.equal((await device(lab.id, "LAB-0045")).body.status, "allocated");
const results = (await download(() => page.getByRole("link", { name: "Download the result of each device (CSV)", exact: true }).click())).toString().trim().split("\n");
assert.equal(results[0].trim(), "Device Serial No.,Result,Code,Message");
assert.equal(results.length, 31, results.join("\n"));
assert.ok(results.slice(1).every((line) => /,succeeded,,\s*$/.test(line)), results.join("\n"));

// Export QR Code and Export Device Info over the threshold run as jobs too; their page
// offers the file once it is made.
await page.goto(`${BASE}/groups/${lab.id}/devices?batch_tag=b2`);
await page.getByLabel(/Select every device that matches/).check();
await page.getByRole("button", { name: "Export QR Code", exact: true }).click();
assert.match(page.url(), /\/jobs\//);
await page.locator("main p strong", { hasText: "Finished" }).waitFor({ timeout: 60000 });
const jobZip = new AdmZip(await download(() => page.getByRole("link", { name: "Download QR Codes (ZIP)", exact: true }).click()));
const jobLabels = jobZip.getEntries().filter((e) => e.entryName.endsWith(".png"));
assert.equal(jobLabels.length, 30);
for (const entry of jobLabels) {
  const png = PNG.sync.read(entry.getData());
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code && code.data.includes(entry.entryName.replace(".png", "")), entry.entryName);
}
await page.goto(`${BASE}/groups/${lab.id}/devices?batch_tag=b2`);
await page.getByLabel(/Select every device that matches/).check();
await page.getByRole("button", { name: "Export Device Info", exact: true }).click();
await page.locator("main p strong", { hasText: "Finished" }).waitFor({ timeout: 60000 });
const jobCsv = (await download(() => page.getByRole("link", { name: "Download Device Info (CSV)", exact: true }).click())).toString();
assert.equal(jobCsv.trim().split("\n").length, 31, jobCsv);
assert.match(jobCsv, /LAB-0045/);

// The event log: who did what, when.
await page.goto(`${BASE}/groups/${lab.id}/events`);
const log = await text();
for (const kind of ["registered", "allocated", "reset", "replaced", "deleted", "group_edited"]) assert.match(log, new RegExp(kind));
assert.match(log, /admin/);
await shot("events");

// A form post without the CSRF token is refused.
const forged = await page.request.post(`${BASE}/groups/${lab.id}/devices/LAB-0004`, { form: { name: "forged", model_id: "meter", version: "1" }, maxRedirects: 0 });
assert.equal(forged.status(), 403);

// A viewer sees no change buttons, and the server refuses its posts anyway.
const viewing = await browser.newContext();
const v = await viewing.newPage();
watch(v);
await v.goto(BASE + "/sign-in");
await v.getByLabel("Access token", { exact: true }).fill(viewer);
await v.getByRole("button", { name: "Sign in", exact: true }).click();
await v.goto(`${BASE}/groups/${lab.id}/devices`);
assert.equal(await v.getByRole("button", { name: "Allocate", exact: true }).count(), 0);
assert.equal(await v.getByRole("button", { name: "Delete", exact: true }).count(), 0);
assert.equal(await v.getByRole("button", { name: "Export Device Info", exact: true }).count(), 1);
const csrf = await v.locator("input[name=_csrf]").first().inputValue();
const refused = await v.request.post(`${BASE}/groups/${lab.id}/devices`, { form: { _csrf: csrf, action: "delete", confirm: "yes", serial: "LAB-0004" } });
assert.equal(refused.status(), 403);
assert.equal((await device(lab.id, "LAB-0004")).status, 200);
await viewing.close();

// Accessibility: no serious or critical axe-core violation on any page (a context that
// lets the test inject axe past the console's script policy).
const checking = await browser.newContext({ bypassCSP: true });
const a = await checking.newPage();
await a.goto(BASE + "/sign-in");
await a.getByLabel("Access token", { exact: true }).fill(admin);
await a.getByRole("button", { name: "Sign in", exact: true }).click();
const pages = [
  BASE + "/",
  `${BASE}/groups/${lab.id}`,
  `${BASE}/groups/${lab.id}/devices`,
  `${BASE}/groups/${lab.id}/import`,
  `${BASE}/groups/${lab.id}/events`,
  `${BASE}/groups/${lab.id}/devices/LAB-R001`,
];
// Readable on a tablet: no page is wider than the screen, tables scroll inside it.
const tablet = await browser.newContext({ viewport: { width: 768, height: 1024 }, isMobile: true, hasTouch: true });
const t = await tablet.newPage();
await t.goto(BASE + "/sign-in");
await t.getByLabel("Access token", { exact: true }).fill(admin);
await t.getByRole("button", { name: "Sign in", exact: true }).click();
for (const url of pages) {
  await t.goto(url);
  const overflow = await t.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${url} is ${overflow}px wider than a tablet's screen`);
}
await t.goto(`${BASE}/groups/${lab.id}/devices`);
await t.screenshot({ path: join(OUT, "tablet-device-information.png") });
await tablet.close();

for (const url of pages) {
  await a.goto(url);
  await a.addScriptTag({ content: axeSource });
  const result = await a.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((x) => x.impact === "serious" || x.impact === "critical");
  assert.deepEqual(bad.map((x) => `${x.id}: ${x.help} (${x.nodes.map((n) => n.target).join(" ")})`), [], url);
}
await checking.close();

assert.deepEqual(problems, [], "the pages logged errors (a blocked script or style shows here)");
await browser.close();
server.kill("SIGTERM");
console.log(`console browser test: every step passed; screenshots in ${OUT}`);
