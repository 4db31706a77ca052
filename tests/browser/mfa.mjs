// Two-step sign-in through the admin UI: an active user turns it on from
// the home page (password again, QR code, first code, recovery codes), signs
// out, signs in again with password and a wrong code (refused), then with a
// recovery code. Prints one JSON line of what it saw; exits non-zero on the
// first thing that is not as expected. Screenshots go to $OUT_DIR.
//
// usage: node mfa.mjs BASE_URL TENANT EMAIL PASSWORD OUT_DIR
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

const [base, tenant, email, password, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node mfa.mjs BASE_URL TENANT EMAIL PASSWORD OUT_DIR');
  process.exit(2);
}

function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

// RFC 4648 base32 and RFC 6238 (HMAC-SHA1, 6 digits, 30 s), for the test's side.
function base32(s) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const ch of s.replace(/=+$/, '')) {
    value = (value << 5) | abc.indexOf(ch);
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 255); bits -= 8; }
  }
  return Buffer.from(out);
}

function totp(secret, step = Math.floor(Date.now() / 30000)) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function signIn(page) {
  await page.fill('#login-tenant', tenant);
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const seen = { consoleErrors: [] };
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') seen.consoleErrors.push(m.text()); });
  await page.goto(base + '/');
  await page.waitForSelector('#login-view:not([hidden])');
  await signIn(page);
  await page.waitForSelector('#home-view:not([hidden])');
  seen.mfaBefore = await page.textContent('#home-mfa');

  await page.click('#setup-mfa');
  await page.waitForSelector('#enrol-view:not([hidden])');
  await page.fill('#enrol-password', password + 'x');
  await page.click('#enrol-start');
  await page.waitForSelector('#notice:not([hidden])');
  seen.wrongPasswordNotice = await page.textContent('#notice');
  await page.fill('#enrol-password', password);
  await page.click('#enrol-start');
  await page.waitForSelector('#enrol-confirm-form:not([hidden])');
  seen.qrModules = await page.$$eval('#enrol-qr svg path', (ps) => ps.length);
  const secret = (await page.textContent('#enrol-secret')).trim();
  seen.secretLength = secret.length;
  await page.screenshot({ path: `${outDir}/mfa-enrol.png` });
  await page.fill('#enrol-code', totp(secret));
  await page.click('#enrol-confirm');
  await page.waitForSelector('#enrol-done:not([hidden])');
  const codes = await page.$$eval('#recovery-codes li', (ls) => ls.map((l) => l.textContent));
  seen.recoveryCodes = codes.length;
  seen.secretCleared = (await page.textContent('#enrol-secret')) === '';
  await page.click('#enrol-finish');
  await page.waitForSelector('#home-view:not([hidden])');
  seen.mfaAfter = await page.textContent('#home-mfa');
  seen.setupHidden = !(await page.isVisible('#setup-mfa'));

  await page.click('#logout');
  await page.waitForSelector('#login-view:not([hidden])');
  await signIn(page);
  await page.waitForSelector('#mfa-view:not([hidden])');
  seen.secondStep = true;
  // a wrong code: neither the current nor the previous step's
  const near = new Set([totp(secret), totp(secret, Math.floor(Date.now() / 30000) - 1)]);
  let wrong = 0;
  while (near.has(String(wrong).padStart(6, '0'))) wrong++;
  await page.fill('#mfa-code', String(wrong).padStart(6, '0'));
  await page.click('#mfa-submit');
  await page.waitForSelector('#notice:not([hidden])');
  seen.wrongCodeNotice = await page.textContent('#notice');
  expect(await page.isVisible('#mfa-view'), 'still on the code form after a wrong code');
  await page.click('#mfa-use-recovery');
  await page.fill('#mfa-recovery', codes[0]);
  await page.click('#mfa-submit');
  await page.waitForSelector('#home-view:not([hidden])');
  seen.signedInWithRecovery = await page.textContent('#home-email');
  await page.screenshot({ path: `${outDir}/mfa-home.png` });
  seen.ok = true;
} catch (e) {
  seen.ok = false;
  seen.error = String(e && e.message || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
process.exit(seen.ok ? 0 : 1);
