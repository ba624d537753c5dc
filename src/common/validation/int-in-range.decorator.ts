import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { ValidateBy, ValidationOptions } from 'class-validator';

export function isIntInRange(value: unknown, min: number, max: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/**
 * An integer from `min` to `max`, with one message whatever is wrong ("-1", "abc", 1.5, 500):
 * IsInt, Min and Max each report, and contradict one another for a string @ToInt() left alone.
 */
export function IntInRange(
  min: number,
  max: number,
  options?: ValidationOptions,
): PropertyDecorator {
  return applyDecorators(
    ValidateBy(
      {
        name: 'intInRange',
        constraints: [min, max],
        validator: {
          validate: (value: unknown) => isIntInRange(value, min, max),
          defaultMessage: () => `$property must be an integer from ${min} to ${max}`,
        },
      },
      options,
    ),
    ApiProperty({ minimum: min, maximum: max }),
  );
}
