/**
 * Why a DogStatsD line was rejected. The hot path returns these small integers
 * (never throws); telemetry turns them into `veneur.packet.error_total` tags:
 * `packet_type`, `reason` (Go's coarse reason: `parse` or `toolong`) and `cause`
 * (our fine-grained code, below).
 */
export const ParseError = {
  None: 0,
  // metric lines (reference §1.2)
  NoPipe: 1,
  NoColon: 2,
  EmptyName: 3,
  EmptyType: 4,
  UnknownType: 5,
  EmptySection: 6,
  BadSampleRate: 7,
  MultipleSampleRates: 8,
  MultipleTagSections: 9,
  UnknownSection: 10,
  BadValue: 11,
  EmptyValue: 12,
  // events (§1.3)
  BadEvent: 13,
  // service checks (§1.4)
  BadServiceCheck: 14,
  // whole datagram
  TooLong: 15,
  /** Not an error of the line itself: dropped by the series limit. */
  SeriesLimit: 16,
  /** DogStatsD 1.2/1.3 fields we accept: counted separately from errors (see compatibility.md). */
  BadContainerOrTimestamp: 17,
} as const;
export type ParseError = (typeof ParseError)[keyof typeof ParseError];

export const PARSE_ERROR_CAUSES: readonly string[] = [
  'none',
  'no_pipe',
  'no_colon',
  'empty_name',
  'empty_type',
  'unknown_type',
  'empty_section',
  'bad_sample_rate',
  'multiple_sample_rates',
  'multiple_tag_sections',
  'unknown_section',
  'bad_value',
  'empty_value',
  'bad_event',
  'bad_service_check',
  'toolong',
  'series_limit',
  'bad_timestamp',
];

export const PacketType = { Metric: 0, Event: 1, ServiceCheck: 2, Unknown: 3 } as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];
export const PACKET_TYPE_NAMES: readonly string[] = ['metric', 'event', 'service_check', 'unknown'];
