import { BadRequestException } from '@nestjs/common';
import { IsOptional, IsString } from 'class-validator';
import { NestedDto } from '../validation/nested-dto.decorator';
import { StrictValidationPipe } from './strict-validation.pipe';

class PointDto {
  @IsString()
  label: string;
}

class ShapeDto {
  @IsString()
  name: string;

  @IsOptional()
  @NestedDto(() => PointDto)
  origin?: PointDto;

  @IsOptional()
  @NestedDto(() => PointDto, { each: true })
  points?: PointDto[];
}

describe('StrictValidationPipe', () => {
  const pipe = new StrictValidationPipe();
  const body = (value: unknown) =>
    pipe.transform(value, { type: 'body', metatype: ShapeDto, data: undefined });
  const messages = async (value: unknown) =>
    body(value).then(
      () => [],
      (error: unknown) => (error as BadRequestException).getResponse() as { message: string[] },
    );

  it('takes a body with only declared fields, nested ones too', async () => {
    const shape = await body({ name: 'a', origin: { label: 'o' }, points: [{ label: 'p' }] });
    expect(shape).toBeInstanceOf(ShapeDto);
  });

  it.each([...Object.getOwnPropertyNames(Object.prototype), 'prototype'])(
    'refuses %s as a field of a DTO, of a nested DTO and of a nested array item',
    async (name) => {
      const extra = JSON.parse(`{${JSON.stringify(name)}:1}`) as Record<string, unknown>;
      expect(await messages({ name: 'a', ...extra })).toMatchObject({
        message: [`property ${name} should not exist`],
      });
      expect(
        await messages(JSON.parse(`{"name":"a","origin":{"label":"o",${JSON.stringify(name)}:1}}`)),
      ).toMatchObject({
        message: [`property origin.${name} should not exist`],
      });
      expect(
        await messages(
          JSON.parse(
            `{"name":"a","points":[{"label":"o"},{"label":"p",${JSON.stringify(name)}:1}]}`,
          ),
        ),
      ).toMatchObject({ message: [`property points.1.${name} should not exist`] });
    },
  );
});
