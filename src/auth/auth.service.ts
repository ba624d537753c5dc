import { Injectable, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/configuration';
import { UserResponseDto } from '../users/dto/user-response.dto';
import { UsersService } from '../users/users.service';
import type { AuthUser, JwtPayload } from './auth-user';
import { AuthResultDto } from './dto/auth-result.dto';
import { LoginDto } from './dto/login.dto';
import { RegisterDto } from './dto/register.dto';
import { PasswordService } from './password.service';

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly passwords: PasswordService,
    private readonly jwt: JwtService,
    private readonly config: ConfigService<AppConfig, true>,
  ) {}

  async register(dto: RegisterDto): Promise<AuthResultDto> {
    const user = await this.users.create({
      email: dto.email,
      passwordHash: await this.passwords.hash(dto.password),
      displayName: dto.displayName ?? null,
    });
    return this.issue(user);
  }

  async login(dto: LoginDto): Promise<AuthResultDto> {
    const user = await this.users.findWithPasswordHash(dto.email);
    const ok = await this.passwords.verify(user?.passwordHash ?? null, dto.password);
    if (!user || !ok) throw new UnauthorizedException('Invalid email or password');
    return this.issue(user);
  }

  private async issue(user: AuthUser): Promise<AuthResultDto> {
    const payload: JwtPayload = { sub: user.id };
    return {
      user: UserResponseDto.from(user),
      accessToken: await this.jwt.signAsync(payload),
      tokenType: 'Bearer',
      expiresIn: this.config.get('auth.jwtExpiresIn', { infer: true }),
    };
  }
}
