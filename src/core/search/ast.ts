/**
 * The JSONPath syntax tree as jsonpath-rfc9535's parser builds it (the package exports the
 * parser but not these types). Only the shapes the search code reads are spelled out.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface JsonPathQuery {
  type: 'JsonPathQuery';
  segments: Segment[];
}

export type Segment = ChildSegment | DescendantSegment;

export interface ChildSegment {
  type: 'ChildSegment';
  node: BracketedSelection | WildcardSelector | MemberNameShorthand;
}

export interface DescendantSegment {
  type: 'DescendantSegment';
  node: BracketedSelection | WildcardSelector | MemberNameShorthand;
}

export interface SingularQuerySegment {
  type: 'SingularQuerySegment';
  node: NameSelector | MemberNameShorthand | IndexSelector;
}

export interface BracketedSelection {
  type: 'BracketedSelection';
  selectors: Selector[];
}

export interface WildcardSelector {
  type: 'WildcardSelector';
}

export interface MemberNameShorthand {
  type: 'MemberNameShorthand';
  value: string;
}

export interface NameSelector {
  type: 'NameSelector';
  value: string;
}

export interface SliceSelector {
  type: 'SliceSelector';
  start: number | null;
  end: number | null;
  step: number | null;
}

/** In a singular query the parser nests the index one level deeper (`selector.value`). */
export interface IndexSelector {
  type: 'IndexSelector';
  value?: number;
  selector?: { type: 'IndexSelector'; value: number };
}

export interface FilterSelector {
  type: 'FilterSelector';
  value: LogicalExpr;
}

export type Selector = NameSelector | WildcardSelector | SliceSelector | IndexSelector | FilterSelector;

export type LogicalExpr = LogicalOrExpr | LogicalAndExpr | LogicalNotExpr | TestExpr | ComparisonExpr;

export interface LogicalOrExpr {
  type: 'LogicalOrExpr';
  left: LogicalExpr;
  right: LogicalExpr;
}

export interface LogicalAndExpr {
  type: 'LogicalAndExpr';
  left: LogicalExpr;
  right: LogicalExpr;
}

export interface LogicalNotExpr {
  type: 'LogicalNotExpr';
  expression: LogicalExpr;
}

export interface TestExpr {
  type: 'TestExpr';
  expression: FilterQuery | FunctionExpr;
}

export interface FilterQuery {
  type: 'FilterQuery';
  value: RelQuery | JsonPathQuery;
}

export interface FunctionExpr {
  type: 'FunctionExpr';
  name: string;
  arguments: FunctionArgument[];
}

export type FunctionArgument = Literal | FilterQuery | LogicalExpr | FunctionExpr;

export interface RelQuery {
  type: 'RelQuery';
  segments: Segment[];
}

export interface RelSingularQuery {
  type: 'RelSingularQuery';
  segments: SingularQuerySegment[];
}

export interface AbsSingularQuery {
  type: 'AbsSingularQuery';
  segments: SingularQuerySegment[];
}

export type ComparisonOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface ComparisonExpr {
  type: 'ComparisonExpr';
  left: Comparable;
  right: Comparable;
  op: ComparisonOp;
}

export type Comparable = Literal | RelSingularQuery | AbsSingularQuery | FunctionExpr;

export interface Literal {
  type: 'Literal';
  value: string | number | boolean | null;
}

export function indexOf(sel: IndexSelector): number {
  return sel.value ?? sel.selector?.value ?? 0;
}
