export interface LoadResult {
  total: number;
  concurrency: number;
  failures: number;
  perSecond: number;
  p50: number;
  p95: number;
  rssAfterWarmupMb: number;
  rssEndMb: number;
  leakedContainers: number;
  exitCode: number | null;
}
export function runLoad(opts?: { total?: number; concurrency?: number }): Promise<LoadResult>;
