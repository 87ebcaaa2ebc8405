// The sign-up proof-of-work: fetch a challenge, solve it in a worker thread (the page
// stays responsive), and hand back the base64 JSON `altcha` the API expects; `null`
// when this server does not ask for one.

import { ApiError } from "./errors.js";
import { readAnswer } from "./session.js";

/** Starts solving now; the promise gives the `altcha` payload or null. */
export function solveChallenge() {
  return fetchChallenge().then((challenge) => (challenge.required ? solve(challenge) : null));
}

async function fetchChallenge() {
  let response;
  try {
    response = await fetch("/v1/auth/challenge");
  } catch (cause) {
    throw new ApiError(0, "network-error", String(cause));
  }
  return readAnswer(response);
}

function solve(challenge) {
  return new Promise((resolve, reject) => {
    const worker = new Worker("/ui/js/pow-worker.js");
    worker.onmessage = (event) => {
      worker.terminate();
      if (event.data.error) {
        reject(new ApiError(0, "invalid-challenge", event.data.error));
        return;
      }
      const payload = {
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        number: event.data.number,
        salt: challenge.salt,
        signature: challenge.signature,
      };
      resolve(btoa(JSON.stringify(payload)));
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new ApiError(0, "invalid-challenge", event.message || "the challenge could not be solved"));
    };
    worker.postMessage({ challenge: challenge.challenge, salt: challenge.salt, maxnumber: challenge.maxnumber });
  });
}
