// Applies the @nestjs/swagger CLI plugin under ts-jest, as `nest build` does (NestJS docs: "CLI plugin", "Integration with ts-jest").
const transformer = require('@nestjs/swagger/plugin');

module.exports.name = 'nestjs-swagger-transformer';
module.exports.version = 1;
module.exports.factory = (cs) =>
  transformer.before({ introspectComments: true, classValidatorShim: true }, cs.program);
