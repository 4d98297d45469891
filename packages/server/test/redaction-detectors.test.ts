import { describe, expect, it } from 'vitest';
import { luhnValid } from '@threadline/protocol';
import { DETECTOR_NAMES, isCardNumber, type DetectorName } from '../src/redaction/detectors.js';
import { parseDetectorList, parsePatternAssignment, parseRulesJson, RedactionRuleError, MAX_CUSTOM_PATTERNS } from '../src/redaction/rules.js';
import { REDACTED_WHOLE, TextRedactor } from '../src/redaction/text-redactor.js';

/**
 * The detectors one at a time, then all together, on what each must find and on the near misses
 * that ordinary trace content is full of (timestamps, token counts, ids, versions, dates).
 */
const only = (name: DetectorName) => new TextRedactor({ detectors: [name], patterns: [] });
const all = new TextRedactor({ detectors: [...DETECTOR_NAMES], patterns: [] });

/** [text, expected] pairs; expected `undefined` means unchanged. */
type Case = [text: string, expected?: string];

function check(redactor: TextRedactor, cases: Case[]): void {
  const wrong = cases.flatMap(([text, expected = text]) => {
    const got = redactor.text(text);
    return got === expected ? [] : [`${JSON.stringify(text)} gave ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`];
  });
  expect(wrong).toEqual([]);
}

describe('email', () => {
  it('finds addresses in prose, JSON and URLs', () => {
    check(only('email'), [
      ['write to bob@example.com today', 'write to [REDACTED:email] today'],
      ['Bob.Smith+filter@mail.example.co.uk.', '[REDACTED:email].'],
      ['{"to":"alice_99@corp-mail.io"}', '{"to":"[REDACTED:email]"}'],
      ['mailto:x%y@sub.domain.travel?subject=hi', 'mailto:[REDACTED:email]?subject=hi'],
      ['a@b.co and c@d.org', '[REDACTED:email] and [REDACTED:email]'],
    ]);
  });

  it('leaves what only looks like one', () => {
    check(only('email'), [
      ['icon@2x.png'],
      ['npm install lodash@4.17.21'],
      ['user@localhost'],
      ['@handle and @org/package'],
      ['a@b.c'],
      ['email me at name at example dot com'],
    ]);
  });
});

describe('phone', () => {
  it('finds international numbers with their + country code', () => {
    check(only('phone'), [
      ['call +1 (415) 555-2671 now', 'call [REDACTED:phone] now'],
      ['+44 20 7946 0958', '[REDACTED:phone]'],
      ['+44 (0) 20 7946 0958', '[REDACTED:phone]'],
      ['+4915123456789', '[REDACTED:phone]'],
      ['+91 98765 43210.', '[REDACTED:phone].'],
      ['+33.1.23.45.67.89', '[REDACTED:phone]'],
      ['tel:+1-415-555-2671', 'tel:[REDACTED:phone]'],
      // A number in prose after it is not part of it (+1 numbers have 11 digits).
      ['Call +1 415 555 2671 24/7', 'Call [REDACTED:phone] 24/7'],
    ]);
  });

  it('finds US numbers written the usual ways', () => {
    check(only('phone'), [
      ['(415) 555-2671', '[REDACTED:phone]'],
      ['415-555-2671', '[REDACTED:phone]'],
      ['415.555.2671', '[REDACTED:phone]'],
      ['call 415 555 2671 today', 'call [REDACTED:phone] today'],
      ['1-800-555-0199', '[REDACTED:phone]'],
      ['{"phone":"(212)555-0147"}', '{"phone":"[REDACTED:phone]"}'],
    ]);
  });

  it('leaves timestamps, token counts, ids, dates, versions and coordinates', () => {
    check(only('phone'), [
      ['created 1700000000 (seconds), 1700000000123 (ms), 1795463486775000000 (ns)'],
      ['4155552671'],
      ['input_tokens: 123456, output_tokens: 98765'],
      ['2024-01-15T10:30:00+05:30'],
      ['2024-01-15 10:30:45.123'],
      ['order 123-456-7890'],
      ['ssn-like 123-45-6789'],
      ['555-1234'],
      ['version 10.415.555.2671'],
      ['415-555-2671-9'],
      ['10.0.0.1 and 192.168.100.200'],
      ['+37.7749 -122.4194'],
      ['2+3 = 5, x+12345678'],
      ['+1415555267'],
      ['score +20 points'],
      ['uuid 123e4567-e89b-12d3-a456-426614174000'],
      ['trace tr-0123456789abcdef0123456789abcdef'],
      ['3.14159265358979'],
    ]);
  });
});

describe('credit_card', () => {
  it('checks Luhn and the card networks', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(isCardNumber('378282246310005')).toBe(true); // Amex, 15 digits
    expect(isCardNumber('5555555555554444')).toBe(true); // Mastercard
    expect(isCardNumber('2223003122003222')).toBe(true); // Mastercard 2-series
    expect(isCardNumber('6011111111111117')).toBe(true); // Discover
    expect(isCardNumber('3530111333300000')).toBe(true); // JCB
    expect(isCardNumber('0000000000000000')).toBe(false);
    expect(isCardNumber('1234567812345670')).toBe(false); // passes Luhn, no network starts with 1
  });

  it('finds card numbers together, with spaces or with dashes', () => {
    check(only('credit_card'), [
      ['card 4111 1111 1111 1111 exp 12/25', 'card [REDACTED:credit_card] exp 12/25'],
      ['4111-1111-1111-1111', '[REDACTED:credit_card]'],
      ['4111111111111111', '[REDACTED:credit_card]'],
      ['amex 3782 822463 10005', 'amex [REDACTED:credit_card]'],
      ['{"pan":"5555555555554444"}', '{"pan":"[REDACTED:credit_card]"}'],
      // A number after the card is not part of it.
      ['4111 1111 1111 1111 12/25', '[REDACTED:credit_card] 12/25'],
    ]);
  });

  it('leaves numbers that fail Luhn, long ids and timestamps', () => {
    check(only('credit_card'), [
      ['4111 1111 1111 1112'],
      ['1795463486775000000'],
      ['1700000000000'],
      ['12345678901234567890123'],
      ['0000 0000 0000 0000'],
      ['4111 1111-1111 1111'],
      ['41111111111111110'],
    ]);
  });
});

describe('api_key', () => {
  it('finds keys by their prefixes', () => {
    check(only('api_key'), [
      ['OPENAI_API_KEY sk-proj-abc123DEF456ghi789JKL012mno345', 'OPENAI_API_KEY [REDACTED:api_key]'],
      ['sk-ant-api03-Zx81kQ02pLm7Rt5vW9yB4nC6dE8fG0hJ', '[REDACTED:api_key]'],
      ['sk-1234567890abcdefghijklmnopqrstuv', '[REDACTED:api_key]'],
      ['aws AKIAIOSFODNN7EXAMPLE', 'aws [REDACTED:api_key]'],
      ['ASIAY34FZKBOKMUTVV7A', '[REDACTED:api_key]'],
      [`ghp_${'aB3'.repeat(12)}`, '[REDACTED:api_key]'],
      ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', '[REDACTED:api_key]'],
      ['xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp', '[REDACTED:api_key]'],
      ['xoxp-1234567890-abcdefghij', '[REDACTED:api_key]'],
      ['key=AIzaSyA1234567890abcdefghijklmnopqrstuv', 'key=[REDACTED:api_key]'],
      ['sk_live_4eC39HqLyjWDarjtT1zdp7dc', '[REDACTED:api_key]'],
    ]);
  });

  it('finds random-looking values assigned to key-like names, and keeps the name', () => {
    check(only('api_key'), [
      ['api_key=Zx81kQ02pLm7Rt5v', 'api_key=[REDACTED:api_key]'],
      ['{"apiKey": "Zx81kQ02pLm7Rt5vW9"}', '{"apiKey": "[REDACTED:api_key]"}'],
      ['X-Api-Key: 9f8e7d6c5b4a39281706', 'X-Api-Key: [REDACTED:api_key]'],
      ['CLIENT_SECRET=q8Jd72kLmN0pQr5sT', 'CLIENT_SECRET=[REDACTED:api_key]'],
      ['access_token=ya29.a0AfH6SMBx3k9Q7z', 'access_token=[REDACTED:api_key]'],
    ]);
  });

  it('leaves words, placeholders and short values', () => {
    check(only('api_key'), [
      ['pip install sk-learn'],
      ['task-management-system-overview-for-everyone'],
      ['sk-this-is-not-a-real-key-at-all'],
      ['api_key=your_api_key_here'],
      ['api_key=short1'],
      ['AKIA1234'],
      ['the apikey field'],
    ]);
  });
});

describe('bearer_token', () => {
  it('finds the token and keeps the scheme', () => {
    check(only('bearer_token'), [
      ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig_part', 'Authorization: Bearer [REDACTED:bearer_token]'],
      ['authorization: bearer 0123456789abcdef0123', 'authorization: bearer [REDACTED:bearer_token]'],
      ['{"headers":{"Authorization":"Bearer tl_3kd92jf8s0a=="}}', '{"headers":{"Authorization":"Bearer [REDACTED:bearer_token]"}}'],
    ]);
  });

  it('leaves the word', () => {
    check(only('bearer_token'), [['the bearer of bad news'], ['Bearer authentication'], ['Bearer tokens are short-lived'], ['Bearer abc123']]);
  });
});

describe('all detectors at once', () => {
  it('redacts each kind where it is, in one string', () => {
    const text = 'From bob@example.com (+44 20 7946 0958), card 4111 1111 1111 1111, key sk-proj-abc123DEF456ghi789JKL012, Bearer abcdef0123456789XYZ.';
    expect(all.text(text)).toBe(
      'From [REDACTED:email] ([REDACTED:phone]), card [REDACTED:credit_card], key [REDACTED:api_key], Bearer [REDACTED:bearer_token].',
    );
  });

  it('gives a phone number its chance where a card number fails', () => {
    // 13 digits with dashes: a card's shape; not a card (Luhn), but an international number.
    expect(all.text('+49-1512-3456-7890')).toBe('[REDACTED:phone]');
  });

  it('returns the very string when nothing matched', () => {
    const text = 'nothing to see here: 12345 tokens at 1700000000000';
    expect(all.text(text)).toBe(text);
  });

  it('scans hostile text in time linear in its length', () => {
    const hostile = [
      'a'.repeat(1_000_000),
      'a.'.repeat(500_000),
      'a@'.repeat(500_000),
      `${'a'.repeat(100)}@`.repeat(10_000),
      '1'.repeat(1_000_000),
      '1-'.repeat(500_000),
      '1 '.repeat(500_000),
      '+1 '.repeat(330_000),
      '+1 ('.repeat(250_000),
      '(415) '.repeat(160_000),
      '4111 '.repeat(200_000),
      'sk-'.repeat(330_000),
      'api_key='.repeat(120_000),
      'Bearer '.repeat(140_000),
      `Bearer ${'.'.repeat(1_000_000)}`,
      `api_key=${'a'.repeat(1_000_000)}`,
      'api_key=a'.repeat(110_000),
      'sk-a '.repeat(200_000),
      'bob@example.com '.repeat(60_000),
    ];
    for (const text of hostile) {
      const started = performance.now();
      all.text(text);
      // About 10-60 ms each on a quiet machine; a quadratic scan would take minutes.
      expect(performance.now() - started, JSON.stringify(text.slice(0, 12))).toBeLessThan(1_500);
    }
  });
});

describe('custom patterns', () => {
  const custom = new TextRedactor({
    detectors: ['email'],
    patterns: [
      { name: 'employee_id', pattern: 'EMP-\\d{6}' },
      { name: 'project', pattern: '(?i)project[ -](titan|atlas)' },
      { name: 'ticket', pattern: '(T)(K)-(\\d+)' },
    ],
  });

  it('replaces each match by its name, whatever groups the patterns have', () => {
    expect(custom.text('EMP-123456 on Project Titan, TK-42, mail a@b.co; EMP-12 stays')).toBe(
      '[REDACTED:employee_id] on [REDACTED:project], [REDACTED:ticket], mail [REDACTED:email]; EMP-12 stays',
    );
  });

  it('runs on RE2: a pattern that backtracks for ever elsewhere finishes at once', () => {
    const hostile = new TextRedactor({ detectors: [], patterns: [{ name: 'evil', pattern: '(a+)+$' }, { name: 'evil2', pattern: '(a|aa)*b' }] });
    const started = performance.now();
    const text = `${'a'.repeat(200_000)}!`;
    expect(hostile.text(text)).toBe(text);
    expect(hostile.text('a'.repeat(200_000))).toBe('[REDACTED:evil]');
    // Milliseconds; V8's own engine would not finish `(a+)+$` on 30 characters in that time.
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('redacts a string whole rather than let a pattern blow it up', () => {
    const dots = new TextRedactor({ detectors: [], patterns: [{ name: 'any', pattern: '.' }] });
    expect(dots.text('abc')).toBe('[REDACTED:any][REDACTED:any][REDACTED:any]');
    expect(dots.text('x'.repeat(10_000))).toBe(REDACTED_WHOLE);
  });
});

describe('JSON values', () => {
  it('redacts every string inside, keys too, and copies only what changed', () => {
    const untouched = { n: 1, list: [true, null, 'plain'] };
    const value = {
      messages: [{ role: 'user', content: 'I am bob@example.com' }],
      'alice@example.com': 'key',
      'carol@example.com': 'other key',
      untouched,
      count: 12345678901,
    };
    const redacted = all.value(value) as Record<string, unknown>;
    expect(JSON.parse(JSON.stringify(redacted))).toEqual({
      messages: [{ role: 'user', content: 'I am [REDACTED:email]' }],
      '[REDACTED:email]': 'key',
      '[REDACTED:email]#2': 'other key',
      untouched: { n: 1, list: [true, null, 'plain'] },
      count: 12345678901,
    });
    expect(redacted.untouched).toBe(untouched);
    expect(all.value(untouched)).toBe(untouched);
  });
});

describe('rules', () => {
  const refused = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(RedactionRuleError);
      return (error as Error).message;
    }
    throw new Error('not refused');
  };

  it('reads detector lists and name=regex', () => {
    expect(parseDetectorList('email, phone,email')).toEqual(['email', 'phone']);
    expect(parseDetectorList('all')).toEqual([...DETECTOR_NAMES]);
    expect(parseDetectorList('')).toEqual([]);
    expect(parsePatternAssignment('employee_id=EMP-\\d{6}=x')).toEqual({ name: 'employee_id', pattern: 'EMP-\\d{6}=x' });
    expect(parseRulesJson({})).toEqual({ detectors: [], patterns: [] });
  });

  it('refuses what cannot be used, saying why', () => {
    expect(refused(() => parseDetectorList('email,ssn'))).toMatch(/Unknown detectors 'ssn'.*email, phone, credit_card, api_key, bearer_token/);
    expect(refused(() => parsePatternAssignment('no-equals-sign'))).toMatch(/name=regex/);
    expect(refused(() => parsePatternAssignment('bad name=x'))).toMatch(/must start with a letter/);
    expect(refused(() => parsePatternAssignment('email=x'))).toMatch(/built-in detector/);
    expect(refused(() => parsePatternAssignment('p=(unclosed'))).toMatch(/not a valid RE2/);
    expect(refused(() => parsePatternAssignment('p=(?=lookahead)x'))).toMatch(/not a valid RE2/);
    expect(refused(() => parsePatternAssignment('p=a*'))).toMatch(/matches empty text/);
    expect(refused(() => parsePatternAssignment('p=[a-z]{1000}[0-9]{1000}x{1000}'))).toMatch(/instructions/);
    expect(refused(() => parsePatternAssignment(`p=${'a'.repeat(1001)}`))).toMatch(/1 to 1000 characters/);
    expect(refused(() => parseRulesJson({ patterns: [{ name: 'p', pattern: 'a' }, { name: 'p', pattern: 'b' }] }))).toMatch(/unique/);
    expect(refused(() => parseRulesJson({ patterns: Array.from({ length: MAX_CUSTOM_PATTERNS + 1 }, (_, i) => ({ name: `p${i}`, pattern: `x${i}` })) }))).toMatch(/At most/);
    expect(refused(() => parseRulesJson({ detectors: 'email' }))).toMatch(/list of names/);
    expect(refused(() => parseRulesJson({ patterns: [{ name: 'p' }] }))).toMatch(/patterns\[0\]/);
  });
});
