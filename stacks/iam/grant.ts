/** One least-privilege grant: exact actions on exact resources. */
export interface Grant {
  readonly sid: string;
  readonly actions: string[];
  readonly resources: string[];
  readonly conditions?: { test: string; variable: string; values: string[] }[];
}

/** What a grant needs of a resource the stack creates or reads: its ARN. */
export interface ArnReference {
  readonly arn: string;
}
