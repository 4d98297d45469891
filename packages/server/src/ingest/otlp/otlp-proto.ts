import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * The vendored `.proto` files (packages/server/proto), found from this module in `src/` and in
 * `dist/` alike: both sit three levels below the package root.
 */
const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

/** The OTLP trace messages and google.rpc.Status, resolved once by protobufjs reflection. */
export interface OtlpProtoTypes {
  ExportTraceServiceRequest: protobuf.Type;
  ExportTraceServiceResponse: protobuf.Type;
  Status: protobuf.Type;
}

let types: OtlpProtoTypes | undefined;

/**
 * Loads the vendored opentelemetry-proto files on first use. Reflection (not generated code)
 * keeps a proto bump to a file copy; parsing four small files costs about a millisecond.
 *
 * @example
 * const { ExportTraceServiceRequest } = otlpProtoTypes();
 */
export function otlpProtoTypes(): OtlpProtoTypes {
  if (types) return types;
  const root = new protobuf.Root();
  // google/protobuf/* are built into protobufjs; everything else is vendored.
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : PROTO_DIR + target);
  root.loadSync(['opentelemetry/proto/collector/trace/v1/trace_service.proto', 'google/rpc/status.proto'], { keepCase: false });
  root.resolveAll();
  types = {
    ExportTraceServiceRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    ExportTraceServiceResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    Status: root.lookupType('google.rpc.Status'),
  };
  return types;
}
