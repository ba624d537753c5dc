import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import { ValidateNested } from 'class-validator';

type Class = new (...args: unknown[]) => unknown;

/** The nested DTO of each property declared with @NestedDto(), per DTO class. */
const nestedTypes = new WeakMap<object, Map<string, () => Class>>();

/**
 * A property holding another DTO (or an array of them, `each`): converted to it, validated as
 * it, and known to StrictValidationPipe, which refuses the nested object's unknown fields too.
 */
export function NestedDto(type: () => Class, options: { each?: boolean } = {}): PropertyDecorator {
  const record: PropertyDecorator = (target, property) => {
    const types = nestedTypes.get(target.constructor) ?? new Map<string, () => Class>();
    types.set(String(property), type);
    nestedTypes.set(target.constructor, types);
  };
  return applyDecorators(record, ValidateNested({ each: options.each }), Type(type));
}

/** The DTO class a @NestedDto() property of `dto` holds, its parents' included. */
export function nestedDtoOf(dto: Class, property: string): Class | undefined {
  for (
    let c: object | null = dto;
    c && c !== Function.prototype;
    c = Object.getPrototypeOf(c) as object | null
  ) {
    const type = nestedTypes.get(c)?.get(property);
    if (type) return type();
  }
  return undefined;
}
