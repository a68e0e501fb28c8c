import type { Session } from 'nestjs-sessions';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
const when = (date: Date) => escape(date.toISOString().replace('T', ' ').slice(0, 16) + ' UTC');

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · nestjs-sessions demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  form.stack { display: grid; gap: .5rem; max-width: 20rem; }
  input { font: inherit; padding: .3rem .5rem; }
  button { font: inherit; padding: .3rem .8rem; cursor: pointer; }
  table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
  .error { color: #a00; }
  .notice { color: #060; }
  .actions { display: flex; gap: .5rem; }
  td button { white-space: nowrap; }
  .current, .bound { font-size: .85em; background: #e6f2e6; padding: 0 .3rem; border-radius: .2rem; white-space: nowrap; }
  .bound { background: #e6ecf7; }
</style>
</head>
<body>
<h1>${escape(title)}</h1>
${body}
</body>
</html>`;
}

/**
 * The login form, which registers too. No `minlength` on the password: the policy is the
 * registration's (the server says so there), and a login must be free to send any password.
 */
export function loginPage(error?: string, notice?: string): string {
  return page(
    'Log in',
    `${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}${notice ? `<p class="notice" role="status">${escape(notice)}</p>` : ''}
<form class="stack" method="post" action="/login">
  <label>Email <input name="email" type="email" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
  <button type="submit" formaction="/register">Register</button>
</form>`,
  );
}

/** One session's row: its device as far as the session recorded it (each part escaped: the label comes from a User-Agent the client chose). */
function sessionRow(s: Session, current: boolean): string {
  const { device, ip, lastSeenAt } = s.metadata ?? {};
  // Device-bound: a copy of this session's cookie is refused away from the key the browser keeps.
  const bound = s.deviceBound ? ' <span class="bound" title="Bound to a key kept by this device (DBSC)">device-bound</span>' : '';
  const label = `${escape(device || 'Unknown device')}${current ? ' <span class="current">this device</span>' : ''}${bound}`;
  const action = current
    ? '<form method="post" action="/account/logout"><button type="submit">Log out this browser</button></form>'
    : `<form method="post" action="/account/sessions/${escape(s.id)}/revoke"><button type="submit">Revoke</button></form>`;
  return `<tr>
  <td class="device">${label}</td><td class="ip">${ip ? escape(ip) : '—'}</td><td class="last-active">${lastSeenAt ? when(lastSeenAt) : '—'}</td>
  <td>${when(s.createdAt)}</td><td>${when(s.expires)}</td>
  <td>${action}</td>
</tr>`;
}

export function accountPage(email: string, sessions: Session[], currentId: string): string {
  const rows = sessions.map((s) => sessionRow(s, s.id === currentId)).join('\n');
  return page(
    'Your account',
    `<p>Signed in as <strong id="email">${escape(email)}</strong>.</p>
<h2>Your devices</h2>
<table>
<thead><tr><th>Device</th><th>IP address</th><th>Last active</th><th>Started</th><th>Expires</th><th></th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<div class="actions">
  <form method="post" action="/account/logout"><button type="submit">Log out</button></form>
  <form method="post" action="/account/logout-all"><button type="submit">Log out everywhere</button></form>
</div>`,
  );
}
