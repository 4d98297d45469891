/** Money is kept in whole nano-dollars (1e-9 USD): integer sums stay exact under any number of moves by difference. */
export const NANOS_PER_USD = 1e9;

export const toNanos = (usd: number): number => Math.round(usd * NANOS_PER_USD);

export const toUsd = (nanos: number): number => nanos / NANOS_PER_USD;
