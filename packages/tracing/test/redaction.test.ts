import { describe, expect, it } from 'vitest';
import { createRedactor, REDACTION_DETECTORS, redactText, type RedactionDetector } from '@threadline/tracing';

// The built-in detectors, one by one: what each finds (replaced by [REDACTED:<name>]) and the
// near misses it must leave alone. Applied with that detector only, so a case shows what it finds.

const only = (detector: RedactionDetector) => createRedactor({ detectors: [detector] });
const cases: Record<RedactionDetector, { found: string[]; kept: string[] }> = {
  email: {
    found: ['alice@example.com', 'first.last+tag@mail.example.co.uk', 'o_brien%x@sub-domain.example.org', 'BOB@EXAMPLE.COM'],
    kept: ['alice@', '@example.com', 'alice at example dot com', 'user@localhost', 'price: 5 @ 3.00'],
  },
  phone: {
    found: ['+1 415 555 0100', '+14155550100', '+33 1 23 45 67 89', '+44 (20) 7946-0958', '(555) 123-4567', '555-123-4567', '555.123.4567', '1-555-123-4567', '020 7946 0958', '01 23 45 67 89'],
    kept: [
      '5551234567', // a bare run: an id or a Unix time as often as a phone number
      '1716400000',
      '2024-01-15',
      '2024-01-15 10:30', // a date and an hour have a phone's digit count
      '15.01.2024 10:30',
      '192.168.100.200',
      '10.0.0.1',
      '1 234 567 890', // thousands
      '-122.4194155', // a coordinate
      '3.14159265358',
      'v1.2.3',
      '555-1234', // too short to tell
      '+1234567', // too short for E.164
      '4111 1111 1111 1111',
    ],
  },
  credit_card: {
    found: ['4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111111', '5500 0000 0000 0004', '3782 822463 10005', '6011000990139424', '4222222222222'],
    kept: [
      '4111 1111 1111 1112', // 16 digits failing Luhn
      '1234 5678 9012 3456',
      '4111 1111 1111', // 12 digits
      '41111111111111111110', // 20 digits (passes Luhn)
      '4111.1111.1111.1111', // dots group other things
      '4111  1111 1111 1111', // a double space
      '12345678-1234-1234-1234-123456789012', // the tail of a longer number is no card: 1234-123456789012 passes Luhn
      'order 4111111111111111x',
    ],
  },
  api_key: {
    found: [
      'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z',
      'sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345',
      'sk_live_51HxYzAbCdEfGhIjKlMn',
      'rk_test_1234567890abcdefgh',
      'ghp_0123456789abcdefghijklmnopqrstuvwxyz',
      'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
      'AKIAIOSFODNN7EXAMPLE',
      'AIzaSyA1234567890abcdefghijklmnopqrstuv',
      'xoxb-123456789012-abcdefghijkl',
      'hf_abcdefghijklmnopqrstuvwxyzABCDEFGH',
      'glpat-abcdefghij0123456789',
    ],
    kept: [
      'sk-short',
      'task-0123456789abcdefghijklmn', // `sk-` inside a word
      'pk_live_51HxYzAbCdEfGhIjKlMn', // a publishable key is public
      'AKIAIOSFODNN7EXAMPLEX', // longer than an access key id
      'a3f1c9e07b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f', // a hash looks like a key but has no prefix
      'max_tokens',
    ],
  },
  bearer_token: {
    found: [
      'Bearer abc.def-123',
      'bearer 9f8e7d6c5b4a3210',
      'Authorization: Bearer abc',
      'authorization:bearer xyz',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    ],
    kept: ['the bearer of bad news', 'Bearer bonds', 'eyJhbGciOiJIUzI1NiJ9', 'eyJ.eyJ.x', 'bearers 123456789'],
  },
};

describe('built-in detectors', () => {
  for (const detector of REDACTION_DETECTORS) {
    const redact = only(detector);
    const replacement = `[REDACTED:${detector}]`;
    it(`${detector}: true positives are replaced, in text too`, () => {
      for (const value of cases[detector].found) {
        expect(redact(value), value).toBe(replacement);
        expect(redact(`before ${value}, after`), value).toBe(`before ${replacement}, after`);
      }
    });
    it(`${detector}: near misses are kept`, () => {
      for (const value of cases[detector].kept) expect(redact(value), value).toBe(value);
    });
  }

  it('all of them by default, each where it belongs, and text without a match comes back as it was', () => {
    const text = 'Mail alice@example.com or call +1 415 555 0100; card 4111 1111 1111 1111; key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z; Authorization: Bearer abc';
    expect(redactText(text)).toBe('Mail [REDACTED:email] or call [REDACTED:phone]; card [REDACTED:credit_card]; key [REDACTED:api_key]; [REDACTED:bearer_token]');
    const plain = 'Order 12345 of 2024-01-15 10:30 shipped to 10.0.0.1, v1.2.3, 42 tokens';
    expect(redactText(plain)).toBe(plain);
    expect(createRedactor({ detectors: [] })('alice@example.com')).toBe('alice@example.com');
  });

  it("the operator's own patterns, with or without the g flag, and their replacement written as is", () => {
    const redact = createRedactor({ detectors: ['email'], patterns: [/\bEMP-\d{6}\b/, { pattern: /acct#\d+/gi, replacement: '<$1 account>' }] });
    expect(redact('EMP-123456 and EMP-654321 mailed bob@example.org about ACCT#991')).toBe('[REDACTED] and [REDACTED] mailed [REDACTED:email] about <$1 account>');
    // The same redactor again: a global pattern's lastIndex does not carry over.
    expect(redact('EMP-000001')).toBe('[REDACTED]');
  });

  it('rules that cannot be applied are refused, not half applied', () => {
    expect(() => createRedactor({ detectors: ['email', 'ssn' as RedactionDetector] })).toThrow(/unknown redaction detector "ssn"/);
    expect(() => createRedactor({ patterns: ['EMP-\\d+' as unknown as RegExp] })).toThrow(TypeError);
  });

  it('every detector runs in linear time on adversarial text (long runs of the characters it matches)', () => {
    const size = 200_000;
    const inputs = [
      'a'.repeat(size), // an email local part without its @
      'a.'.repeat(size / 2),
      'a@'.repeat(size / 2),
      `x@${'b-'.repeat(size / 2)}`,
      '1 '.repeat(size / 2), // digit groups that never end
      '1-'.repeat(size / 2),
      '(1) '.repeat(size / 4),
      '9'.repeat(size),
      'sk-'.repeat(size / 3),
      `Bearer ${'t'.repeat(size)}`,
      'bearer '.repeat(size / 7),
      'eyJa.'.repeat(size / 5),
      ' '.repeat(size),
      'authorization: '.repeat(size / 15),
    ];
    const redact = createRedactor();
    const started = performance.now();
    for (const input of inputs) redact(input);
    // Quadratic behaviour on 200 000 characters takes minutes; linear takes milliseconds.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
