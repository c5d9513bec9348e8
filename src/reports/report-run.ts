/** What every report over a source says besides its data. */
export interface ReportRun {
  /** Connections the tracker stopped following because too many were open (ConnectionTracker.dropped). */
  connectionsDropped: number;
}

/** Lost events as the source counts them: how many now, how many in all. */
export type OnLost = (newlyLost: number, total: number) => void;
