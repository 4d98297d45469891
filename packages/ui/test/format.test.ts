import { describe, expect, it } from 'vitest';
import { costFrom, costParts, spend, tokensFrom, usd } from '../src/format.js';

describe('cost as the UI writes it', () => {
  it('writes cents from a dollar up and three significant digits below, trailing zeros past the cents dropped', () => {
    expect(usd(1234.5)).toBe('$1,234.50');
    expect(usd(1)).toBe('$1.00');
    expect(usd(0.5)).toBe('$0.50');
    expect(usd(0.123456)).toBe('$0.123');
    expect(usd(0.0123456)).toBe('$0.0123');
    expect(usd(0.00045)).toBe('$0.00045');
    expect(usd(0.0003)).toBe('$0.0003');
    expect(usd(0.000465)).toBe('$0.000465');
    expect(usd(1e-9)).toBe('$0.000000001');
    expect(usd(0)).toBe('$0.00');
    expect(usd(null)).toBe('–');
    expect(usd(Number.NaN)).toBe('–');
  });

  it('writes a sum that is 0 (nothing priced) as none', () => {
    expect(spend(0)).toBe('–');
    expect(spend(0.027)).toBe('$0.027');
  });

  it("reads MLflow's cost and token shapes from text or an object, and nothing else", () => {
    expect(costFrom('{"input_cost":0.00015,"output_cost":0.0003,"total_cost":0.00045}')).toEqual({ input: 0.00015, output: 0.0003, total: 0.00045 });
    expect(costFrom({ total_cost: 0.25 })).toEqual({ input: null, output: null, total: 0.25 });
    expect(costFrom('{"input_cost":1}')).toBeNull();
    expect(costFrom('not json')).toBeNull();
    expect(costFrom(undefined)).toBeNull();
    expect(costParts({ input: 0.00015, output: 0.0003, total: 0.00045 })).toBe('$0.00015 in · $0.0003 out');
    expect(costParts({ input: null, output: null, total: 0.25 })).toBeUndefined();
    expect(tokensFrom({ input_tokens: 10, output_tokens: 5 })).toEqual({ input: 10, output: 5, total: 15 });
    expect(tokensFrom('{}')).toBeNull();
  });
});
