import type { AndNode, ClauseNode, ComparisonOperator, FilterNode, Literal, OrNode } from './filter-ast.js';
import { checkOperator, checkValue, resolveField, type ClauseOperator, type FieldResolver } from './filter-fields.js';
import { invalidParameter } from '../errors.js';
import { filterError, tokenize, type IdentifierToken, type Keyword, type Token } from './filter-lexer.js';
import { MAX_FILTER_CLAUSES, MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_LIST_VALUES } from './limits.js';

/**
 * Parses a trace filter into its tree, or throws a 400 `ApiError` that names the offending token
 * and its position. An empty (or all-blank) filter means "no filter" and gives `undefined`.
 *
 * The grammar is MLflow's clause language with Threadline's boolean layer (reference §18):
 * ```
 * filter   := [ "AND" ] or_expr [ "AND" ]
 * or_expr  := and_expr ( "OR" and_expr )*
 * and_expr := not_expr ( "AND" not_expr )*
 * not_expr := "NOT" not_expr | "(" or_expr ")" | clause
 * ```
 * A filter's size is bounded (limits.ts): its length, its clauses, its nesting of parentheses and
 * NOT, and the values of its IN lists; past a bound it is refused at the token that crosses it.
 *
 * @example
 * const tree = parseFilter("trace.status = 'OK' AND (tag.env = 'prod' OR NOT span.type = 'TOOL')");
 * tree?.kind; // 'and'
 */
export function parseFilter(text: string, resolve: FieldResolver = resolveField): FilterNode | undefined {
  if (text.length > MAX_FILTER_LENGTH) {
    throw invalidParameter(`Invalid filter: it is ${text.length} characters long; a filter may have at most ${MAX_FILTER_LENGTH}.`);
  }
  if (text.trim() === '') return undefined;
  return new FilterParser(tokenize(text), resolve).parse();
}

class FilterParser {
  private pos = 0;
  /** Parentheses and NOTs open around the current token. */
  private depth = 0;
  private clauses = 0;
  private listValues = 0;

  /** @param resolve names fields: the trace language's by default, the session or user language's otherwise. */
  constructor(
    private readonly tokens: readonly Token[],
    private readonly resolve: FieldResolver,
  ) {}

  parse(): FilterNode {
    // One stray AND on either side is tolerated (decision 2, Q2); a filter of only AND is not.
    if (this.isKeyword(this.peek(), 'AND')) this.pos++;
    const node = this.parseOr();
    if (this.isKeyword(this.peek(), 'AND') && this.peek(1).kind === 'eof') this.pos++;
    const next = this.peek();
    if (next.kind !== 'eof') {
      if (next.kind === 'identifier' || next.kind === '(' || this.isKeyword(next, 'NOT')) {
        throw filterError('expected AND or OR before', next.text, next.start, 'Clauses must be joined with AND or OR.');
      }
      throw filterError('unexpected', next.text, next.start);
    }
    return node;
  }

  private parseOr(): FilterNode {
    const operands = [this.parseAnd()];
    while (this.isKeyword(this.peek(), 'OR')) {
      this.pos++;
      operands.push(this.parseAnd());
    }
    return combine('or', operands);
  }

  private parseAnd(): FilterNode {
    const operands = [this.parseNot()];
    // A trailing AND right before the end is left for parse() to tolerate.
    while (this.isKeyword(this.peek(), 'AND') && this.peek(1).kind !== 'eof') {
      this.pos++;
      operands.push(this.parseNot());
    }
    return combine('and', operands);
  }

  private parseNot(): FilterNode {
    const token = this.peek();
    if (!this.isKeyword(token, 'NOT') && token.kind !== '(') return this.parseClause();
    // Each level is a few frames of recursion here and in the compiler.
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw filterError('too deeply nested at', token.text, token.start, `Parentheses and NOT may be nested at most ${MAX_FILTER_DEPTH} levels deep.`);
    }
    this.pos++;
    let node: FilterNode;
    if (token.kind === '(') {
      node = this.parseOr();
      const close = this.peek();
      if (close.kind !== ')') throw filterError(`expected ')' to close the '(' at position ${token.start}, found`, close.text, close.start);
      this.pos++;
    } else {
      const operand = this.parseNot();
      node = { kind: 'not', operand, range: { start: token.start, end: operand.range.end } };
    }
    this.depth--;
    return node;
  }

  private parseClause(): ClauseNode {
    const token = this.next();
    if (token.kind === 'identifier' && ++this.clauses > MAX_FILTER_CLAUSES) {
      throw filterError(
        `more than ${MAX_FILTER_CLAUSES} clauses: the clause`,
        token.text,
        token.start,
        `A filter may have at most ${MAX_FILTER_CLAUSES} clauses; write many values of one field as IN ('a', 'b', ...).`,
      );
    }
    if (token.kind !== 'identifier') {
      const what = token.kind === 'eof' ? 'expected a clause, found' : token.kind === 'string' || token.kind === 'number' ? 'expected a field name, found' : 'unexpected';
      throw filterError(what, token.text, token.start, token.kind === 'string' || token.kind === 'number' ? 'A clause is field <comparator> value.' : undefined);
    }
    const field = this.resolve(token);
    const fieldText = token.text;
    const { operator, text: operatorText, start: operatorStart } = this.parseOperator(token);
    checkOperator(field, fieldText, operator, operatorText, operatorStart);

    if (operator === 'IS NULL' || operator === 'IS NOT NULL') {
      return { kind: 'null-check', field, negated: operator === 'IS NOT NULL', fieldText, range: { start: token.start, end: this.previous().end } };
    }
    if (operator === 'IN' || operator === 'NOT IN') {
      const values = this.parseList().map((v) => checkValue(field, fieldText, operator, v).value as string);
      return { kind: 'in-list', field, negated: operator === 'NOT IN', values, fieldText, range: { start: token.start, end: this.previous().end } };
    }
    const value = checkValue(field, fieldText, operator, this.parseValue(fieldText));
    return { kind: 'comparison', field, operator: operator as ComparisonOperator, value, fieldText, range: { start: token.start, end: value.range.end } };
  }

  private parseOperator(fieldToken: IdentifierToken): { operator: ClauseOperator; text: string; start: number } {
    const token = this.next();
    if (token.kind === 'operator') return { operator: token.operator, text: token.text, start: token.start };
    if (token.kind === 'keyword') {
      switch (token.keyword) {
        case 'LIKE':
        case 'ILIKE':
        case 'RLIKE':
        case 'MATCH':
        case 'IN':
          return { operator: token.keyword, text: token.text, start: token.start };
        case 'NOT': {
          const next = this.next();
          if (!this.isKeyword(next, 'IN')) throw filterError('expected IN after NOT, found', next.text, next.start);
          return { operator: 'NOT IN', text: `${token.text} ${next.text}`, start: token.start };
        }
        case 'IS': {
          let next = this.next();
          const negated = this.isKeyword(next, 'NOT');
          if (negated) next = this.next();
          if (!this.isKeyword(next, 'NULL')) throw filterError('expected NULL or NOT NULL after IS, found', next.text, next.start);
          return { operator: negated ? 'IS NOT NULL' : 'IS NULL', text: negated ? 'IS NOT NULL' : 'IS NULL', start: token.start };
        }
        default:
          break;
      }
    }
    throw filterError(`expected a comparator after ${fieldToken.text}, found`, token.text, token.start, 'Comparators are =, !=, <, <=, >, >=, LIKE, ILIKE, RLIKE, IN, NOT IN, IS NULL, IS NOT NULL, and MATCH for trace.text.');
  }

  private parseValue(fieldText: string): Literal {
    const token = this.next();
    if (token.kind === 'string') return { kind: 'string', value: token.value, range: { start: token.start, end: token.end } };
    if (token.kind === 'number') return { kind: 'number', value: token.value, text: token.text, range: { start: token.start, end: token.end } };
    if (token.kind === 'identifier') {
      throw filterError(`the value for ${fieldText} must be quoted:`, token.text, token.start, `Write '${token.text}' in single or double quotes.`);
    }
    if (this.isKeyword(token, 'NULL')) throw filterError('unexpected', token.text, token.start, 'Write IS NULL or IS NOT NULL to test whether a key is present.');
    throw filterError(`expected a value for ${fieldText}, found`, token.text, token.start);
  }

  /** `( value, ... )`: non-empty; a trailing comma is allowed, as in Python's literal_eval. */
  private parseList(): Literal[] {
    const open = this.next();
    if (open.kind !== '(') throw filterError("expected '(' to start a list, found", open.text, open.start, "Write IN ('a', 'b').");
    const values: Literal[] = [];
    for (;;) {
      const token = this.next();
      if (token.kind === ')') {
        if (values.length === 0) throw filterError('empty list', '()', open.start, 'IN and NOT IN need at least one quoted value.');
        return values;
      }
      if (token.kind === 'string' && ++this.listValues > MAX_LIST_VALUES) {
        throw filterError(`more than ${MAX_LIST_VALUES} list values: the value`, token.value, token.start, `IN and NOT IN lists may hold at most ${MAX_LIST_VALUES} values in all.`);
      }
      if (token.kind === 'string') values.push({ kind: 'string', value: token.value, range: { start: token.start, end: token.end } });
      else if (token.kind === 'number') throw filterError('lists take quoted strings only, found', token.text, token.start, `Write '${token.text}'.`);
      else throw filterError('expected a quoted value in the list, found', token.text, token.start);
      const separator = this.next();
      if (separator.kind === ')') return values;
      if (separator.kind !== ',') throw filterError("expected ',' or ')' in the list, found", separator.text, separator.start);
    }
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.pos + ahead, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'eof') this.pos++;
    return token;
  }

  private previous(): Token {
    return this.tokens[this.pos - 1]!;
  }

  private isKeyword(token: Token, keyword: Keyword): boolean {
    return token.kind === 'keyword' && token.keyword === keyword;
  }
}

/** One operand stays itself; nested nodes of the same kind are flattened (AND and OR are associative). */
function combine(kind: 'and' | 'or', operands: FilterNode[]): FilterNode {
  if (operands.length === 1) return operands[0]!;
  const flat = operands.flatMap((o) => (o.kind === kind ? (o as AndNode | OrNode).operands : [o]));
  const range = { start: operands[0]!.range.start, end: operands[operands.length - 1]!.range.end };
  return kind === 'and' ? { kind, operands: flat, range } : { kind, operands: flat, range };
}
