import { ArgumentMetadata, BadRequestException, Injectable, ValidationPipe } from '@nestjs/common';
import { getMetadataStorage } from 'class-validator';
import { excerpt } from '../excerpt';
import { nestedDtoOf } from '../validation/nested-dto.decorator';

type Class = new (...args: unknown[]) => unknown;

/** At most this many unknown fields are named in one answer. */
const MAX_NAMED = 10;

/** The properties a DTO class declares (every one with a validation rule), nested DTOs by @NestedDto(). */
function declaredProperties(dto: Class): Map<string, Class | undefined> {
  const properties = new Map<string, Class | undefined>();
  for (const rule of getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false)) {
    const type = nestedDtoOf(dto, rule.propertyName);
    if (!properties.get(rule.propertyName)) properties.set(rule.propertyName, type);
  }
  return properties;
}

/**
 * Every own property of `value` its DTO does not declare, nested DTOs included, with its path.
 * A Map and own keys, never `obj[name]`: names every object has (`constructor`, `toString`,
 * `__proto__`, `valueOf`…) must not pass for declared ones.
 */
function unknownProperties(value: unknown, dto: Class, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) {
    return value.flatMap((item, i) => unknownProperties(item, dto, `${path}${i}.`));
  }
  const declared = declaredProperties(dto);
  const unknown: string[] = [];
  for (const key of Object.keys(value)) {
    if (!declared.has(key)) unknown.push(`${path}${key}`);
    else {
      const nested = declared.get(key);
      const child = Object.getOwnPropertyDescriptor(value, key)?.value as unknown;
      if (nested) unknown.push(...unknownProperties(child, nested, `${path}${key}.`));
    }
  }
  return unknown;
}

/**
 * The global ValidationPipe, strict about unknown fields whatever their name. Its own whitelist
 * misses the names an object inherits: class-transformer skips a field whose name is a method of
 * the DTO instance (`toString`, `hasOwnProperty`…) and class-validator looks names up in a plain
 * object (`constructor`), so those would be dropped silently. Bodies and queries are checked
 * here, against the DTO's declared properties, before they are transformed.
 */
@Injectable()
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      forbidUnknownValues: true,
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const dto = metadata.metatype as Class | undefined;
    if (
      (metadata.type === 'body' || metadata.type === 'query') &&
      dto &&
      this.toValidate(metadata)
    ) {
      const unknown = unknownProperties(value, dto);
      if (unknown.length > 0) {
        const named = unknown
          .slice(0, MAX_NAMED)
          .map((p) => `property ${excerpt(p)} should not exist`);
        if (unknown.length > MAX_NAMED)
          named.push(`and ${unknown.length - MAX_NAMED} more unknown properties`);
        throw new BadRequestException(named);
      }
    }
    return super.transform(value, metadata);
  }
}
