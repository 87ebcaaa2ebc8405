// Solves a sign-up proof-of-work challenge off the page's thread (ALTCHA's format):
// tries numbers from 0 up until SHA-256(salt + number) is the challenge. Posts
// {number, tried} when found, or {error} when no number up to maxnumber works.

self.onmessage = async (event) => {
  const { challenge, salt, maxnumber } = event.data;
  const encoder = new TextEncoder();
  for (let number = 0; number <= maxnumber; number += 1) {
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(salt + number));
    if (hex(digest) === challenge) {
      self.postMessage({ number });
      return;
    }
  }
  self.postMessage({ error: "no number solves the challenge" });
};

function hex(buffer) {
  const bytes = new Uint8Array(buffer);
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}
