// The HTTP check scripts/test-examples.sh runs against a started example:
//   node scripts/examples-e2e.mjs http://127.0.0.1:3000
// login -> 200 with a token and a Set-Cookie; GET /me by cookie -> 200; by bearer -> 200;
// logout -> 204; GET /me with the old token (bearer, then cookie) -> 401.
// Prints nothing and exits 0 when all hold; else prints the first step that failed, exits 1.
const base = process.argv[2];
if (!base) {
  console.error('usage: node scripts/examples-e2e.mjs <base url>');
  process.exit(2);
}

async function call(method, path, { headers = {}, body } = {}) {
  const response = await fetch(base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, cookies: response.headers.getSetCookie() };
}

function expect(step, response, status, check = () => true, what = '') {
  if (response.status !== status || !check(response)) {
    throw new Error(`${step}: got ${response.status} ${response.text.slice(0, 200)}; expected ${status}${what}`);
  }
}

const name = `e2e-${process.pid}-${Date.now()}`;
try {
  const login = await call('POST', '/login', { body: { name } });
  const cookie = login.cookies.map((c) => c.split(';')[0]).find((c) => c.startsWith('session=') && c.length > 'session='.length);
  expect('POST /login', login, 200, (r) => typeof r.json?.token === 'string' && r.json.token.length > 0, ' with {token}');
  if (!cookie) throw new Error(`POST /login: no session cookie in Set-Cookie ${JSON.stringify(login.cookies)}`);
  const token = login.json.token;

  const byCookie = await call('GET', '/me', { headers: { cookie } });
  expect('GET /me by cookie', byCookie, 200, (r) => r.json?.user?.name === name, ` with the user ${name}`);
  const byBearer = await call('GET', '/me', { headers: { authorization: `Bearer ${token}` } });
  expect('GET /me by bearer', byBearer, 200, (r) => r.json?.user?.name === name, ` with the user ${name}`);

  const logout = await call('POST', '/logout', { headers: { authorization: `Bearer ${token}` } });
  expect('POST /logout', logout, 204);

  expect('GET /me by bearer after logout', await call('GET', '/me', { headers: { authorization: `Bearer ${token}` } }), 401);
  expect('GET /me by cookie after logout', await call('GET', '/me', { headers: { cookie } }), 401);
} catch (error) {
  // fetch's own errors say only "fetch failed"; the reason (ECONNREFUSED, a timeout) is the cause.
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  console.error(error instanceof Error ? error.message + cause : String(error));
  process.exit(1);
}
