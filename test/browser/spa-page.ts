/**
 * A minimal SPA of another origin, as a real client would be written: the access token lives in
 * memory only, the refresh token in the HttpOnly cookie the API sets; on load it refreshes (one
 * tab at a time, with the Web Locks API) and on a 401 from refresh it shows the login form.
 */
export function spaPage(api: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title></head>
<body>
<form id="login"><input id="email" type="email"><input id="password" type="password">
<button id="submit" type="submit">Sign in</button></form>
<p id="status">starting</p>
<script>
const API = ${JSON.stringify(api)};
let accessToken = null;
const status = (text) => (document.getElementById('status').textContent = text);

async function call(path, init = {}) {
  return fetch(API + path, { ...init, credentials: 'include' });
}

// One refresh at a time across this origin's tabs: a second tab waits, then refreshes with the
// cookie the first one received.
function refresh() {
  return navigator.locks.request('auth-refresh', async () => {
    const res = await call('/api/auth/refresh', { method: 'POST' });
    if (!res.ok) return false;
    accessToken = (await res.json()).accessToken;
    return true;
  });
}

async function showUser() {
  const res = await call('/api/users/me', { headers: { authorization: 'Bearer ' + accessToken } });
  const user = await res.json();
  status('signed in as ' + user.email);
}

document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const res = await call('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: document.getElementById('email').value,
      password: document.getElementById('password').value,
    }),
  });
  if (!res.ok) return status('login failed: ' + res.status);
  accessToken = (await res.json()).accessToken;
  await showUser();
});

refresh().then((ok) => (ok ? showUser() : status('signed out')), (e) => status('error ' + e));
</script>
</body></html>`;
}
