import {
  BadRequestException,
  ConflictException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { toErrorBody } from './all-exceptions.filter';

const queryError = (code: string, message = 'duplicate key value violates "uq_users_email"') =>
  new QueryFailedError(
    'INSERT INTO "users" ... secret',
    [],
    Object.assign(new Error(message), { code }),
  );

describe('toErrorBody', () => {
  it('keeps validation messages as a list', () => {
    expect(toErrorBody(new BadRequestException(['a must be a string', 'b is missing']))).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: ['a must be a string', 'b is missing'],
    });
  });

  it('maps PostgreSQL client errors without quoting SQL or the driver', () => {
    const conflict = toErrorBody(queryError('23505'));
    expect(conflict).toEqual({ statusCode: 409, error: 'Conflict', message: 'Conflict' });
    const malformed = toErrorBody(queryError('22P02', 'invalid input syntax for type uuid: "x"'));
    expect(malformed).toEqual({ statusCode: 400, error: 'Bad Request', message: 'Invalid input' });
  });

  it('reads the SQLSTATE of errors node-postgres throws directly', () => {
    const raw = Object.assign(new Error('invalid input syntax for type uuid: "x"'), {
      severity: 'ERROR',
      code: '22P02',
    });
    expect(toErrorBody(raw)).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'Invalid input',
    });
    const shutdown = Object.assign(new Error('terminating connection'), {
      severity: 'FATAL',
      code: '57P01',
    });
    expect(toErrorBody(shutdown).statusCode).toBe(503);
  });

  it('answers 503 when the database is unreachable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    expect(toErrorBody(refused).statusCode).toBe(503);
    expect(toErrorBody(queryError('57P01', 'terminating connection')).statusCode).toBe(503);
    expect(
      toErrorBody(new ServiceUnavailableException('Database is not reachable')).statusCode,
    ).toBe(503);
  });

  it('answers 503 for a statement rolled back to end a deadlock or a serialization failure', () => {
    expect(toErrorBody(queryError('40P01', 'deadlock detected')).statusCode).toBe(503);
    expect(toErrorBody(queryError('40001', 'could not serialize access')).statusCode).toBe(503);
  });

  it('hides anything unknown behind a generic 500', () => {
    const body = toErrorBody(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(body).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'Internal server error',
    });
    expect(
      JSON.stringify(toErrorBody(queryError('42P01', 'relation "x" does not exist'))),
    ).not.toMatch(/relation|INSERT|secret/);
  });

  it('uses the standard reason phrase for Nest exceptions', () => {
    expect(toErrorBody(new ConflictException('Email is already registered'))).toEqual({
      statusCode: 409,
      error: 'Conflict',
      message: 'Email is already registered',
    });
  });
});
