import { SpanType, startSpan, tracingContext } from '@threadline/tracing';

/** Options of {@link backfillTraffic}. */
export interface BackfillOptions {
  /** Users who talk; each gets a few conversations. */
  users: readonly string[];
  /** Messages the users send, drawn at random. */
  messages: readonly string[];
  /** Days of history, ending now. Default 7. */
  days?: number;
  /** Conversations in all. Default 140 (~20 a day). */
  conversations?: number;
  /** The seed of the random choices, so every demo draws the same week. Default 1. */
  seed?: number;
  /** "Now", ms since the epoch. Default `Date.now()`. */
  nowMs?: number;
}

/** A small seeded generator (mulberry32): the same seed, the same week. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Busier in the day than at night: the chance of a conversation starting at each hour (UTC). */
const HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 11, 11, 10, 9, 8, 7, 5, 4, 3, 2];

/**
 * Logs a realistic stretch of past traffic through the SDK itself, with past start and end times
 * (`startTimeNs` / `endTimeNs`): conversations of 2 to 6 turns spread over the last `days`, more
 * in the day than at night, each turn a `process_chat` root with its model call, its latency and
 * token usage, some of them failing, so that the overview and a user's page have a shape to show.
 * The SDK exports them as it does live traces. Answers how many traces were logged.
 *
 * @example
 * const logged = backfillTraffic({ users: ['user-alice'], messages: ['Hello'] });
 * await flushTraces();
 */
export function backfillTraffic(options: BackfillOptions): number {
  const rand = random(options.seed ?? 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const days = options.days ?? 7;
  const nowMs = options.nowMs ?? Date.now();
  const totalWeight = HOUR_WEIGHTS.reduce((a, b) => a + b, 0);
  const hourOfDay = () => {
    let r = rand() * totalWeight;
    for (const [hour, weight] of HOUR_WEIGHTS.entries()) if ((r -= weight) < 0) return hour;
    return 12;
  };
  let logged = 0;
  for (let c = 0; c < (options.conversations ?? 140); c++) {
    const user = pick(options.users);
    const day = Math.floor(rand() * days);
    const startOfDay = Math.floor(nowMs / 86_400_000) * 86_400_000 - day * 86_400_000;
    let t = startOfDay + hourOfDay() * 3_600_000 + Math.floor(rand() * 3_600_000);
    // Conversations of today that would start in the last two hours (or later) go a day back: the
    // past week ends well before the live conversations of the demo.
    if (t >= nowMs - 2 * 3_600_000) t -= 86_400_000;
    // And none starts before the window: a 7-day chart holds the whole week.
    while (t < nowMs - days * 86_400_000 + 3_600_000) t += 86_400_000;
    const sessionId = `session-${user.replace(/^user-/, '')}-past-${c}`;
    const turns = 2 + Math.floor(rand() * 5);
    for (let turn = 0; turn < turns; turn++) {
      const message = pick(options.messages);
      const latencyMs = Math.round(250 + 2500 * rand() ** 2);
      const failed = rand() < 0.03;
      const inputTokens = 20 + Math.floor(rand() * 400);
      const outputTokens = failed ? 0 : 10 + Math.floor(rand() * 300);
      const reply = `(a past answer to: ${message})`;
      tracingContext({ user, sessionId }, () => {
        const ns = (ms: number) => BigInt(ms) * 1_000_000n;
        const root = startSpan({ name: 'process_chat', spanType: SpanType.CHAIN, inputs: { messages: [{ role: 'user', content: message }] }, startTimeNs: ns(t) });
        const model = startSpan({ name: 'Completions', spanType: SpanType.CHAT_MODEL, parent: root, inputs: { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: message }] }, startTimeNs: ns(t + 15) });
        model.setAttributes({ 'mlflow.chat.tokenUsage': { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens } });
        if (failed) {
          model.end({ status: 'ERROR', endTimeNs: ns(t + latencyMs - 5) });
          root.end({ status: 'ERROR', endTimeNs: ns(t + latencyMs) });
        } else {
          model.end({ outputs: { choices: [{ message: { role: 'assistant', content: reply } }] }, endTimeNs: ns(t + latencyMs - 5) });
          root.end({ outputs: reply, endTimeNs: ns(t + latencyMs) });
        }
      });
      logged++;
      // The next message comes after the user read the answer.
      t += latencyMs + 10_000 + Math.floor(rand() * 120_000);
    }
  }
  return logged;
}
