// The Get Started walkthrough in a real VS Code (code-server 4.100.3 = VS Code 1.100) with
// the packaged .vsix: it is listed, opens with its four steps, shows a step's page, and a
// step's button runs its command (Add Registry… asks for the host; answering it adds the
// registry to the setting and to the Models view).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { startVSCode, type VSCodeSession } from './harness';

describe('VS Code: the Get Started walkthrough', { timeout: 600_000 }, () => {
  let vsc: VSCodeSession;
  let reg: RunningRegistry;

  before(async () => {
    reg = await startRegistry();
    vsc = await startVSCode();
  });
  after(async () => {
    await vsc?.stop();
    await reg?.stop();
  });

  test('Welcome: Open Walkthrough… lists it; its steps show; Add Registry… from the first step adds a registry', async () => {
    await vsc.withDiagnostics('walkthrough', async () => {
      await vsc.runCommand('Welcome: Open Walkthrough...');
      await vsc.pickQuickItem(/Get Started with omlmd/);
      const page = vsc.page.locator('.gettingStartedContainer');
      await page.getByText('Publish a model to a registry, find it again and open its page.').waitFor();
      for (const step of ['Add a registry', 'Push a model', 'Find it', 'Open its page']) {
        await page.locator('.getting-started-step .step-title', { hasText: step }).first().waitFor();
      }
      // The first step is open: its page (media/walkthrough/add-registry.md) and its button.
      const button = page.locator('.getting-started-step.expanded').getByRole('button', { name: 'Add Registry…' });
      await button.waitFor();
      await button.click();
      // A loopback registry is plain HTTP without asking. An Enter that lands while the box still
      // validates what was typed is not taken: the box stays open, so Enter again.
      await vsc.answerInputBox(reg.host);
      const box = vsc.page.locator('.quick-input-widget');
      for (let i = 0; i < 5 && (await box.isVisible()); i++) {
        await vsc.page.waitForTimeout(500);
        if (await box.isVisible()) await vsc.page.keyboard.press('Enter');
      }
      await vsc.openModelsView();
      await vsc.waitForTreeRow(reg.host);
      const rows = await vsc.treeRows();
      assert.ok(rows.some((r) => r.label === reg.host), JSON.stringify(rows));
    });
  });
});
