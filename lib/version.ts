/** rq-ts's version, written where rq writes its own (`version` in the worker hash), so `rq info` can tell workers apart. */
export const RQ_TS_VERSION = '0.1.0';
