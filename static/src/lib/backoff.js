// Exponential backoff with "equal jitter": half the delay is fixed, half random.
export function backoffDelay(attempt, { baseMs = 500, maxMs = 15000, random = Math.random } = {}) {
  const n = Math.max(1, attempt)
  const exp = Math.min(maxMs, baseMs * 2 ** (n - 1))
  return Math.round(exp / 2 + random() * (exp / 2))
}
