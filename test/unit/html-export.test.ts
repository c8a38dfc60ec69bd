import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHtmlExport, type HtmlExportMeta } from '../../src/lib/recording/html-export.js';
import { launchBrowser } from '../helpers/browser.js';

/*
 * The offline HTML export: escaping of everything recorded or user-named, no URL in the file,
 * and real playback in headless Chromium from file:// with every network request refused.
 */

const XSS = '</script><script>alert(1)</script>';
const header = { version: 2, width: 60, height: 12, timestamp: 1_700_000_000, env: { TERM: 'xterm-256color' } };
const castText = [
  JSON.stringify(header),
  JSON.stringify([0.05, 'o', 'hello from the recording\r\n']),
  JSON.stringify([0.1, 'o', `${XSS}\r\n`]),
  JSON.stringify([0.15, 'o', 'caf\u00e9 \u20ac <!-- done\r\n']),
  '',
].join('\n');

const meta = (over: Partial<HtmlExportMeta> = {}): HtmlExportMeta => ({
  id: '4a1f0d5e-2b7c-4c1e-9a57-0c1d2e3f4a5b',
  user: '<b>mallory</b>',
  login: 'root',
  node: 'web-1" onmouseover="alert(3)',
  startedAt: Date.UTC(2023, 10, 14, 22, 13, 20),
  endedAt: Date.UTC(2023, 10, 14, 22, 14, 50),
  command: `echo '${XSS}'`,
  verification: { status: 'verified', summary: 'verified: signed by tollgate-recording@main <img src=x onerror=alert(2)>' },
  generatedAt: Date.UTC(2024, 0, 2, 3, 4, 5),
  ...over,
});

async function* chunks(text: string, size: number): AsyncGenerator<Buffer> {
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** A slow sink with a tiny buffer, so the export has to wait for 'drain'. */
function slowSink(): { sink: Writable; text: () => string; drains: () => number } {
  const parts: Buffer[] = [];
  let drains = 0;
  const sink = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      setImmediate(cb);
    },
  });
  sink.on('drain', () => drains++);
  return { sink, text: () => Buffer.concat(parts).toString('utf8'), drains: () => drains };
}

async function exportToString(cast: AsyncIterable<Buffer | string>, m = meta()): Promise<string> {
  const { sink, text } = slowSink();
  await writeHtmlExport(cast, sink, m);
  return text();
}

/** The cast lines as embedded in the page. */
const embeddedCast = (html: string) => /<script type="text\/plain" id="tollgate-cast">([\s\S]*?)<\/script>/.exec(html)![1]!;

describe('writeHtmlExport', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-html-'));
  const castFile = path.join(dir, 'session.cast');
  const htmlFile = path.join(dir, 'session.html');
  let html = '';
  let browser: Browser | undefined;

  beforeAll(async () => {
    fs.writeFileSync(castFile, castText);
    const out = fs.createWriteStream(htmlFile);
    await writeHtmlExport(fs.createReadStream(castFile, { highWaterMark: 64 }), out, meta());
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    html = fs.readFileSync(htmlFile, 'utf8');
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('holds no URL, and escapes every recorded or user-named value', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(/https?:\/\//i.test(html)).toBe(false);
    expect(html).toContain('<title>tollgate recording 4a1f0d5e-2b7c-4c1e-9a57-0c1d2e3f4a5b</title>');
    expect(html).toContain("default-src 'none'");
    // Exactly the bundle, the start-up script and the inert cast: nothing recorded ends a script.
    expect(html.match(/<script\b/gi)).toHaveLength(3);
    expect(html.match(/<\/script/gi)).toHaveLength(3);
    expect(html).not.toContain('<b>mallory');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('" onmouseover');
    expect(html).toContain('&#60;b&#62;mallory&#60;/b&#62;');
    // The embedded lines are still the same asciicast, value for value.
    expect(embeddedCast(html).trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(
      castText.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown),
    );
    expect(html).toContain('The recording holds 3 events over 150ms.');
  });

  it('plays from file:// in Chromium with the network refused', async () => {
    const context = await browser!.newContext();
    const pageUrl = pathToFileURL(htmlFile).href;
    const requests: string[] = [];
    const dialogs: string[] = [];
    const problems: string[] = [];
    context.on('request', (r) => {
      if (r.url() !== pageUrl) requests.push(r.url());
    });
    await context.route('**/*', (r) => (r.request().url() === pageUrl ? r.continue() : r.abort()));
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    try {
      await page.goto(pageUrl);
      // The info panel is plain HTML: the user's name shows as typed, not as markup.
      expect(await page.locator('#tg-user').textContent()).toBe('<b>mallory</b>');
      expect(await page.locator('#tg-info b').count()).toBe(0);
      expect(await page.locator('#tg-node').textContent()).toBe('web-1" onmouseover="alert(3)');
      expect(await page.locator('#tg-command').textContent()).toBe(`echo '${XSS}'`);
      expect(await page.locator('#tg-verification').getAttribute('data-status')).toBe('verified');
      expect(await page.locator('#tg-verification').textContent()).toContain('<img src=x onerror=alert(2)>');
      expect(await page.locator('#tg-started').textContent()).toBe('2023-11-14T22:13:20.000Z');
      expect(await page.locator('#tg-duration').textContent()).toBe('1m30s');
      expect(await page.locator('#tg-verification').evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).color)).toBe('rgb(46, 125, 50)');

      // Nothing plays until asked; then what an auditor does: press the big play button.
      expect(await page.locator('#tg-player').textContent()).not.toContain('hello from the recording');
      await page.locator('.ap-overlay-start').click({ timeout: 5000 });
      await page.locator('#tg-player .ap-term-text', { hasText: 'caf\u00e9 \u20ac <!-- done' }).waitFor({ timeout: 5000 });
      const screen = (await page.locator('#tg-player .ap-term-text').textContent()) ?? '';
      expect(screen).toContain('hello from the recording');
      expect(screen).toContain(XSS);
      expect(await page.locator('#tg-player .ap-term').evaluate((el) => el.clientWidth)).toBeGreaterThan(0);
      expect(dialogs).toEqual([]);
      expect(requests).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('waits for drain, and keeps characters split across chunks whole', async () => {
    const { sink, text, drains } = slowSink();
    await writeHtmlExport(chunks(castText, 1), sink, meta());
    // Every write of a line overfills the 16-byte buffer: one 'drain' per event at least.
    expect(drains()).toBeGreaterThanOrEqual(4);
    expect(text()).toBe(html);
  });

  it('leaves out a last event cut short, and says so', async () => {
    const cut = `${castText}[0.2, "o", "half an ev`;
    const page = await exportToString(chunks(cut, 7), meta({ endedAt: null, command: null, verification: { status: 'incomplete', summary: 'incomplete: no end record' } }));
    expect(embeddedCast(page).trimEnd().split('\n')).toHaveLength(4);
    expect(page).toContain('Its last event was cut short');
    expect(page).toContain('unknown (the session did not end cleanly)');
    expect(page).toContain('tg-status-incomplete');
    expect(page).not.toContain('id="tg-command"');
  });

  it('refuses what is not an asciicast v2 recording, before writing anything', async () => {
    const { sink, text } = slowSink();
    await expect(writeHtmlExport(chunks('{"version": 1, "stdout": []}\n', 5), sink, meta())).rejects.toMatchObject({ kind: 'bad-parameter' });
    await expect(writeHtmlExport(chunks('not json\n', 5), sink, meta())).rejects.toMatchObject({ kind: 'bad-parameter' });
    await expect(writeHtmlExport(chunks('', 5), sink, meta())).rejects.toMatchObject({ kind: 'bad-parameter' });
    expect(text()).toBe('');
  });
});
