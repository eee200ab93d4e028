/**
 * The one table of ONNX tensor element types this package understands: the TensorProto.DataType
 * enum value, its name, its size, and where typed (non-raw) data lives. Weight math uses the
 * floating-point types; the integer types are needed for sparse indices and for reading
 * integer initializers of models we merely copy.
 */
export const DTYPES = {
  1: { name: 'float32', bytes: 4, typedField: 'float_data', isFloat: true },
  2: { name: 'uint8', bytes: 1, typedField: 'int32_data', isFloat: false },
  3: { name: 'int8', bytes: 1, typedField: 'int32_data', isFloat: false },
  4: { name: 'uint16', bytes: 2, typedField: 'int32_data', isFloat: false },
  5: { name: 'int16', bytes: 2, typedField: 'int32_data', isFloat: false },
  6: { name: 'int32', bytes: 4, typedField: 'int32_data', isFloat: false },
  7: { name: 'int64', bytes: 8, typedField: 'int64_data', isFloat: false },
  9: { name: 'bool', bytes: 1, typedField: 'int32_data', isFloat: false },
  10: { name: 'float16', bytes: 2, typedField: 'int32_data', isFloat: true },
  11: { name: 'float64', bytes: 8, typedField: 'double_data', isFloat: true },
  12: { name: 'uint32', bytes: 4, typedField: 'uint64_data', isFloat: false },
  13: { name: 'uint64', bytes: 8, typedField: 'uint64_data', isFloat: false },
  16: { name: 'bfloat16', bytes: 2, typedField: 'int32_data', isFloat: true },
} as const;

export type DataTypeCode = keyof typeof DTYPES;
export type DTypeName = (typeof DTYPES)[DataTypeCode]['name'];
/** Element types a weight may have (CLI.md "Weights"). */
export type FloatDTypeName = 'float32' | 'float16' | 'bfloat16' | 'float64';

export const FLOAT_DTYPES: readonly FloatDTypeName[] = ['float32', 'float16', 'bfloat16', 'float64'];

export function dtypeOf(code: number): (typeof DTYPES)[DataTypeCode] | undefined {
  return (DTYPES as Record<number, (typeof DTYPES)[DataTypeCode]>)[code];
}

export function dtypeCode(name: DTypeName): DataTypeCode {
  for (const [code, info] of Object.entries(DTYPES)) if (info.name === name) return Number(code) as DataTypeCode;
  throw new Error(`unknown dtype ${name}`);
}

/** Names for the ONNX enum values we do not decode, so errors can say what the model holds. */
export const UNSUPPORTED_DTYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED',
  8: 'string',
  14: 'complex64',
  15: 'complex128',
  17: 'float8e4m3fn',
  18: 'float8e4m3fnuz',
  19: 'float8e5m2',
  20: 'float8e5m2fnuz',
  21: 'uint4',
  22: 'int4',
  23: 'float4e2m1',
};

export function describeDataType(code: number): string {
  return dtypeOf(code)?.name ?? UNSUPPORTED_DTYPE_NAMES[code] ?? `unknown data type ${code}`;
}
