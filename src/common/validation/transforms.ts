import { Transform } from 'class-transformer';

/** Trims strings; leaves other types alone so the type validators report them. */
export const Trim = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value));

/** Trims and lower-cases strings (e-mail addresses). */
export const NormaliseEmail = () =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  );

/**
 * Query-string integers, strictly: "20" becomes 20, but "1e3", " 20", "0x14", "20.0" and
 * repeated parameters stay as they are, so @IsInt() rejects them.
 */
export const ToInt = () =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^(0|[1-9]\d{0,15})$/.test(value) ? Number(value) : value,
  );
