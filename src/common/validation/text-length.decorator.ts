import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { ValidateBy, ValidationArguments, ValidationOptions } from 'class-validator';

/**
 * Whether `value` is a string of `min` to `max` characters, counted as JSON and JavaScript count
 * them: UTF-16 code units (`String.prototype.length`). class-validator's Length and MaxLength
 * count code points, so an emoji would count once where the contract counts it twice.
 */
export function isTextLength(value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

/**
 * `min` to `max` UTF-16 code units; a field that is trimmed (@Trim) is measured after trimming.
 * The messages are class-validator's, and the OpenAPI schema gets minLength/maxLength as the
 * Swagger plugin gave it for Length.
 */
export function TextLength(
  min: number,
  max: number,
  options?: ValidationOptions,
): PropertyDecorator {
  return applyDecorators(
    ValidateBy(
      {
        name: 'textLength',
        constraints: [min, max],
        validator: {
          validate: (value: unknown) => isTextLength(value, min, max),
          defaultMessage: (args?: ValidationArguments) =>
            typeof args?.value === 'string' && args.value.length < min
              ? `$property must be longer than or equal to ${min} characters`
              : `$property must be shorter than or equal to ${max} characters`,
        },
      },
      options,
    ),
    ApiProperty(min > 0 ? { minLength: min, maxLength: max } : { maxLength: max }),
  );
}
