// Signs in through the admin UI as a person would: the login form with a
// one-time password, the forced password change, the home page with the
// user list, sign-out. Prints one JSON line of what it saw; exits non-zero
// on the first thing that is not as expected. Screenshots go to $OUT_DIR.
//
// usage: node login.mjs BASE_URL TENANT EMAIL ONE_TIME_PASSWORD NEW_PASSWORD OUT_DIR
import { chromium } from 'playwright-core';

const [base, tenant, email, otp, newPw, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node login.mjs BASE_URL TENANT EMAIL OTP NEW_PASSWORD OUT_DIR');
  process.exit(2);
}

function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const seen = { cspViolations: [], consoleErrors: [] };
try {
  // The certificate is the self-signed one kura init made for localhost.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') seen.consoleErrors.push(m.text()); });
  await page.goto(base + '/');
  await page.waitForSelector('#login-view:not([hidden])');

  // A wrong password first: the error is shown, nothing else changes.
  await page.fill('#login-tenant', tenant);
  await page.fill('#login-email', email);
  await page.fill('#login-password', otp + 'x');
  await page.click('#login-submit');
  await page.waitForSelector('#notice:not([hidden])');
  seen.wrongPasswordNotice = await page.textContent('#notice');
  expect(await page.isVisible('#login-view'), 'still on the login form after a wrong password');

  await page.fill('#login-password', otp);
  await page.click('#login-submit');
  await page.waitForSelector('#password-view:not([hidden])');
  seen.forcedChange = true;
  await page.screenshot({ path: `${outDir}/password-change.png` });

  // A too-short password is refused with the server's reason.
  await page.fill('#pw-current', otp);
  await page.fill('#pw-new', 'short');
  await page.fill('#pw-repeat', 'short');
  await page.$eval('#password-form', (f) => f.noValidate = true);
  await page.click('#pw-submit');
  await page.waitForSelector('#pw-errors li');
  seen.shortPasswordErrors = await page.$$eval('#pw-errors li', (ls) => ls.map((l) => l.textContent));

  await page.fill('#pw-new', newPw);
  await page.fill('#pw-repeat', newPw);
  await page.click('#pw-submit');
  await page.waitForSelector('#home-view:not([hidden])');
  await page.waitForSelector('#users-body tr');
  seen.homeTitle = await page.textContent('#home-title');
  seen.homeRole = await page.textContent('#home-role');
  seen.users = await page.$$eval('#users-body tr td:nth-child(2)', (ts) => ts.map((t) => t.textContent));
  await page.waitForSelector('#notices-card:not([hidden])');
  seen.notices = await page.$$eval('#notices-list li strong', (ts) => ts.map((t) => t.textContent));
  seen.alertsHidden = await page.$eval('#alerts-card', (c) => c.hidden);
  await page.screenshot({ path: `${outDir}/home.png` });

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === '__Host-kura_session');
  expect(session, 'a __Host-kura_session cookie');
  seen.cookie = { httpOnly: session.httpOnly, secure: session.secure, sameSite: session.sameSite };

  // A reload keeps the session (the CSRF token comes back from /me).
  await page.reload();
  await page.waitForSelector('#home-view:not([hidden])');
  seen.afterReload = await page.textContent('#home-email');

  await page.click('#logout');
  await page.waitForSelector('#login-view:not([hidden])');
  const after = await context.cookies();
  seen.cookieAfterLogout = after.some((c) => c.name === '__Host-kura_session' && c.value !== '');
  seen.ok = true;
} catch (e) {
  seen.ok = false;
  seen.error = String(e && e.message || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
process.exit(seen.ok ? 0 : 1);
