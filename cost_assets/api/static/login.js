// The token travels once, in a header, for an HttpOnly session cookie; a
// "#token=..." fragment (never sent to the server) signs in without typing.
// The rest of the fragment is the dashboard page a shared link points to: kept.
const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get("token");
fragment.delete("token");
const page = fragment.toString() ? "/#" + fragment.toString() : "/";
async function signIn(token) {
  const response = await fetch("/session", {method: "POST", headers: {Authorization: "Bearer " + token}});
  if (response.ok) { history.replaceState(null, "", page); location.reload(); } else { document.getElementById("error").hidden = false; }
}
document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(document.getElementById("token").value);
});
if (token) { history.replaceState(null, "", page); signIn(token); }
