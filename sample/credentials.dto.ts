import { IsEmail, IsString, MaxLength, MinLength } from 'class-validator';

/** Registration and login take the same two fields. */
export class CredentialsDto {
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  email: string;

  // The upper bound keeps one request from buying minutes of scrypt.
  @IsString()
  @MinLength(8, { message: 'password must be at least 8 characters' })
  @MaxLength(128, { message: 'password must be at most 128 characters' })
  password: string;
}
