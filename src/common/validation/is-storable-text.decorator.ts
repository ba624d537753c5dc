import { ValidateBy, ValidationOptions, buildMessage } from 'class-validator';

/**
 * PostgreSQL `text` cannot hold NUL, and a lone UTF-16 surrogate would be silently replaced on
 * the way to UTF-8: refuse both instead of storing something other than what was sent.
 */
export function isStorableText(value: unknown): boolean {
  return typeof value === 'string' && !value.includes('\u0000') && value.isWellFormed();
}

export function IsStorableText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStorableText',
      validator: {
        validate: isStorableText,
        defaultMessage: buildMessage(
          (each) => `${each}$property must be text without NUL characters or unpaired surrogates`,
          options,
        ),
      },
    },
    options,
  );
}
